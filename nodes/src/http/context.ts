import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import { oci, parseName, type Reference } from 'georeg/oci';

/**
 * What the caller may do, as handlers ask it (auth's RequestAccess is one; declared here so that
 * http/ and auth/, which takes a Ctx, do not import each other).
 */
export interface RequestAccess {
  can(repo: string, action: string): boolean;
  /** Throws DENIED unless the caller may put this manifest. */
  admitManifest(repo: string, ref: Reference, body: Buffer, contentType: string | undefined): void;
  /** Whether the catalog may list `repo` to this caller. */
  visible(repo: string): Promise<boolean>;
}

/** One request: its parsed path parameters and query, its id, its logger. */
export class Ctx {
  /** Set by the route that matched, for the access log (low-cardinality). */
  route = 'unknown';
  /** What the caller may do, when authentication is on (set before the handler runs). */
  access?: RequestAccess;
  private query?: URLSearchParams;
  #name?: string;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly id: string,
    readonly log: Logger,
    readonly path: string,
    private readonly rawQuery: string,
    readonly params: string[],
  ) {}

  /** The repository name from the path, validated (once: authorization and the handler both read it). */
  get name(): string {
    this.#name ??= parseName(this.params[0] ?? '');
    return this.#name;
  }

  param(i: number): string {
    return this.params[i] ?? '';
  }

  q(key: string): string | undefined {
    if (this.rawQuery === '') return undefined;
    this.query ??= new URLSearchParams(this.rawQuery);
    return this.query.get(key) ?? undefined;
  }

  /** Every value of a repeated query parameter. */
  qAll(key: string): string[] {
    if (this.rawQuery === '') return [];
    this.query ??= new URLSearchParams(this.rawQuery);
    return this.query.getAll(key);
  }

  /** This request's query string with some parameters set anew: a next page's link keeps every other one. */
  queryWith(set: Record<string, string>): string {
    const q = new URLSearchParams(this.rawQuery);
    for (const [k, v] of Object.entries(set)) q.set(k, v);
    return `?${q.toString()}`;
  }

  /** A non-negative integer query parameter, or undefined when absent. */
  qInt(key: string, max: number): number | undefined {
    const v = this.q(key);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!/^\d{1,9}$/.test(v) || n > max) throw oci('PAGINATION_INVALID', `${key} must be an integer from 0 to ${max}`);
    return n;
  }

  header(name: string): string | undefined {
    const v = this.req.headers[name];
    return Array.isArray(v) ? v[0] : v;
  }

  send(status: number, headers: Record<string, string | number>, body?: Buffer | string): void {
    const res = this.res;
    res.statusCode = status;
    for (const k in headers) res.setHeader(k, headers[k] as string | number);
    if (body === undefined || this.req.method === 'HEAD') {
      if (body !== undefined && !('Content-Length' in headers)) res.setHeader('Content-Length', Buffer.byteLength(body));
      res.end();
    } else {
      res.setHeader('Content-Length', Buffer.byteLength(body));
      res.end(body);
    }
  }

  json(status: number, value: unknown, headers: Record<string, string | number> = {}): void {
    this.send(status, { 'Content-Type': 'application/json', ...headers }, JSON.stringify(value));
  }
}
