import type { Access } from '../auth/access.js';
import type { Ctx } from './context.js';

export type Handler = (ctx: Ctx) => Promise<void> | void;

/** One method of a route: what the caller needs (checked when authentication is on), and its handler. */
export interface Endpoint {
  access: Access;
  handler: Handler;
}

export interface Route {
  /** Low-cardinality name for logs and metrics, e.g. `manifests`. */
  name: string;
  pattern: RegExp;
  /** HEAD, where not declared, is GET's: its access and its handler. */
  methods: Partial<Record<string, Endpoint>>;
}

export type Match = { route: Route; params: string[]; handler?: Handler };

/** Percent-decode a path parameter (the Azure SDK sends `team%2Fapp`, `sha256%3A…`); malformed escapes stay as they are (and fail validation). */
function decodeParam(p: string): string {
  if (!p.includes('%')) return p;
  try {
    return decodeURIComponent(p);
  } catch {
    return p;
  }
}

/** Finds the first route whose pattern matches; `handler` is undefined when the method is not allowed. */
export class Router {
  constructor(private readonly routes: Route[]) {}

  match(method: string, path: string): Match | undefined {
    for (const route of this.routes) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      const endpoint = route.methods[method] ?? (method === 'HEAD' ? route.methods.GET : undefined);
      return { route, params: m.slice(1).map(decodeParam), handler: endpoint?.handler };
    }
    return undefined;
  }
}
