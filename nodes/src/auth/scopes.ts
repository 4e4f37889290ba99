import { compileGlob } from 'georeg/trust';

/**
 * What a token or user may do on a repository: ACR's scope map actions, and
 * georeg's `sign` (push signature artifacts, and nothing else).
 */
export const ACTIONS = ['pull', 'push', 'delete', 'sign', 'metadata_read', 'metadata_write'] as const;
export type Action = (typeof ACTIONS)[number];

/** One entry of a scope map: repository globs and the actions allowed on them. */
export interface ScopeRule {
  repositories: string[];
  actions: Action[];
}

/** A user's roles (ACR's vocabulary), each the set of actions it allows; `delete` pulls too, as clients resolve a tag before deleting. */
export const ROLES = {
  pull: ['pull', 'metadata_read'],
  push: ['pull', 'push', 'metadata_read'],
  delete: ['pull', 'delete', 'metadata_read'],
  sign: ['pull', 'sign', 'metadata_read'],
  admin: ['pull', 'push', 'delete', 'sign', 'metadata_read', 'metadata_write'],
} as const satisfies Record<string, readonly Action[]>;
export type Role = keyof typeof ROLES;
const ROLE_NAMES = Object.keys(ROLES) as Role[];

/** One entry of a user's role assignment: repository globs and the roles held on them. */
export interface RoleRule {
  repositories: string[];
  roles: Role[];
}

/** The scope map of a role assignment. */
export function roleScopes(rules: RoleRule[]): ScopeRule[] {
  return rules.map((r) => ({ repositories: r.repositories, actions: [...new Set(r.roles.flatMap((role) => ROLES[role]))] }));
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
      const actions = granted(s.actions.includes('*') ? [...allowed] : s.actions, allowed);
      if (actions.length) out.push({ type: 'repository', name: s.name, actions });
    }
    return out;
  }
}

/** The actions of `wanted` in `allowed`; a signer asking for `push` (cosign and georeg sign ask for `pull,push`) gets `sign`. */
function granted(wanted: string[], allowed: ReadonlySet<string>): string[] {
  const asked = wanted.map((a) => (a === 'push' && !allowed.has('push') ? 'sign' : a));
  return [...new Set(asked.filter((a) => allowed.has(a)))];
}

/** Validate a scope map given through the admin API or CLI. */
export function parseScopeRules(input: unknown): ScopeRule[] {
  if (!Array.isArray(input) || input.length === 0) throw new Error('scopes must be a non-empty list of {repositories, actions}');
  return input.map((r, i) => ({
    repositories: globs(r, `scopes[${i}]`),
    actions: members(r, `scopes[${i}]`, 'actions', 'action', ACTIONS),
  }));
}

/** Validate a user's roles given through the admin API or CLI, or replicated: a list (empty: no access) of {repositories, roles}. */
export function parseRoleRules(input: unknown): RoleRule[] {
  if (!Array.isArray(input))
    throw new Error('roles must be a list of {repositories, roles}, e.g. [{"repositories":["team/**"],"roles":["push"]}]');
  return input.map((r, i) => ({ repositories: globs(r, `roles[${i}]`), roles: members(r, `roles[${i}]`, 'roles', 'role', ROLE_NAMES) }));
}

/** `rule.repositories`: a non-empty list of valid globs. */
function globs(rule: unknown, where: string): string[] {
  const v = (rule as { repositories?: unknown } | null)?.repositories;
  if (!Array.isArray(v) || v.length === 0 || v.some((g) => typeof g !== 'string'))
    throw new Error(`${where}.repositories must be a non-empty list of globs`);
  for (const g of v as string[]) {
    try {
      compileGlob(g);
    } catch (e) {
      throw new Error(`${where}.repositories: ${(e as Error).message}`);
    }
  }
  return v as string[];
}

/** `rule[field]`: a non-empty list of `noun`s from `known`. */
function members<T extends string>(rule: unknown, where: string, field: string, noun: string, known: readonly T[]): T[] {
  const v = (rule as Record<string, unknown> | null)?.[field];
  if (!Array.isArray(v) || v.length === 0) throw new Error(`${where}.${field} must be a non-empty list of ${known.join(', ')}`);
  const unknown = v.find((a) => !known.includes(a as T));
  if (unknown !== undefined) throw new Error(`${where}.${field}: unknown ${noun} ${JSON.stringify(unknown)}; use ${known.join(', ')}`);
  return v as T[];
}
