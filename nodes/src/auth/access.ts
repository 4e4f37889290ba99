import type { Ctx } from '../http/context.js';

/** What a request needs before its handler runs. */
export type Requirement =
  | { kind: 'public' }
  | { kind: 'authenticated' }
  | { kind: 'admin' }
  | { kind: 'catalog' }
  /** `signer`: the `sign` action suffices too, and the handler admits signature artifacts only (RequestAccess.admitManifest). */
  | { kind: 'repository'; name: string; action: 'pull' | 'push' | 'delete'; signer?: boolean }
  /** A signed URL (query `t`) for one blob of one repository: the URL is the credential. */
  | { kind: 'signed-blob'; name: string; digest: string };

/** What one method of a route needs, from its request (the repository and digest of its path). */
export type Access = (ctx: Ctx) => Requirement;

const fixed =
  (need: Requirement): Access =>
  () =>
    need;
const repository =
  (action: 'pull' | 'delete'): Access =>
  (ctx) => ({ kind: 'repository', name: ctx.name, action });

/** The requirements a route declares beside each handler (`GET: { access: needs.pull, handler }`). */
export const needs = {
  public: fixed({ kind: 'public' }),
  authenticated: fixed({ kind: 'authenticated' }),
  admin: fixed({ kind: 'admin' }),
  catalog: fixed({ kind: 'catalog' }),
  pull: repository('pull'),
  delete: repository('delete'),
  /** `push`, or `sign` for signature artifacts only (every push route today admits a signer). */
  pushOrSign: (ctx) => ({ kind: 'repository', name: ctx.name, action: 'push', signer: true }),
  /** The blob of the path (repository, digest) on a signed URL. */
  signedBlob: (ctx) => ({ kind: 'signed-blob', name: ctx.name, digest: ctx.param(1) }),
} satisfies Record<string, Access>;
