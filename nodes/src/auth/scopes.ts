import { compileGlob } from 'georeg/trust';

/** What a token or user may do on a repository (ACR's scope map actions). */
export const ACTIONS = ['pull', 'push', 'delete', 'metadata_read', 'metadata_write'] as const;
export type Action = (typeof ACTIONS)[number];

/** One entry of a scope map: repository globs and the actions allowed on them. */
export interface ScopeRule {
  repositories: string[];
  actions: Action[];
}

/** Access a principal holds: repository name → actions (the JWT `access` claim, Docker's format). */
export interface AccessEntry {
  type: 'repository' | 'registry';
  name: string;
  actions: string[];
}

/** A requested scope, as `repository:<name>:<actions>` or `registry:catalog:*`. */
export interface RequestedScope {
  type: 'repository' | 'registry';
  name: string;
  actions: string[];
}

const NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;

/** Parse Docker token-spec scopes; malformed ones and unknown types are dropped (the spec grants less, never errors). */
export function parseScopes(values: string[]): RequestedScope[] {
  const out: RequestedScope[] = [];
  for (const v of values.flatMap((s) => s.split(' '))) {
    const m = /^(repository|registry)(?:\([a-z]+\))?:([^:]+):([a-z_*,]+)$/.exec(v);
    if (!m) continue;
    const [, type, name, actions] = m as unknown as [string, 'repository' | 'registry', string, string];
    if (type === 'repository' && !NAME.test(name)) continue;
    if (type === 'registry' && name !== 'catalog') continue;
    out.push({ type, name, actions: actions.split(',').filter((a) => a !== '') });
  }
  return out;
}

/** A scope map compiled for matching. */
export class ScopeMap {
  readonly #rules: { matches: (name: string) => boolean; actions: ReadonlySet<string> }[];

  constructor(rules: ScopeRule[]) {
    this.#rules = rules.map((r) => {
      const globs = r.repositories.map(compileGlob);
      return { matches: (n: string) => globs.some((matches) => matches(n)), actions: new Set(r.actions) };
    });
  }

  /** The actions allowed on `repository`. */
  allowed(repository: string): Set<string> {
    const out = new Set<string>();
    for (const r of this.#rules) if (r.matches(repository)) for (const a of r.actions) out.add(a);
    return out;
  }

  /** Grant the requested scopes this map allows (never more than asked): the JWT `access` claim. */
  grant(requested: RequestedScope[], catalog: boolean): AccessEntry[] {
    const out: AccessEntry[] = [];
    for (const s of requested) {
      if (s.type === 'registry') {
        if (catalog && s.actions.includes('*')) out.push({ type: 'registry', name: 'catalog', actions: ['*'] });
        continue;
      }
      const allowed = this.allowed(s.name);
      const wanted = s.actions.includes('*') ? [...allowed] : s.actions;
      const actions = wanted.filter((a) => allowed.has(a));
      if (actions.length) out.push({ type: 'repository', name: s.name, actions });
    }
    return out;
  }
}

/** Validate a scope map given through the admin API or CLI. */
export function parseScopeRules(input: unknown): ScopeRule[] {
  if (!Array.isArray(input) || input.length === 0) throw new Error('scopes must be a non-empty list of {repositories, actions}');
  return input.map((r, i) => {
    const o = r as { repositories?: unknown; actions?: unknown };
    if (!Array.isArray(o.repositories) || o.repositories.length === 0 || o.repositories.some((g) => typeof g !== 'string')) throw new Error(`scopes[${i}].repositories must be a list of globs`);
    for (const g of o.repositories as string[]) compileGlob(g);
    if (!Array.isArray(o.actions) || o.actions.length === 0 || o.actions.some((a) => !ACTIONS.includes(a as Action))) throw new Error(`scopes[${i}].actions must be a list of ${ACTIONS.join(', ')}`);
    return { repositories: o.repositories as string[], actions: o.actions as Action[] };
  });
}
