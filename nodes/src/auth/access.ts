import type { Ctx } from '../http/context.js';

/** What a request needs before its handler runs. */
export type Requirement =
  | { kind: 'public' }
  | { kind: 'authenticated' }
  | { kind: 'admin' }
  /** `anonymous: false`: not for anonymous callers even where some repository allows anonymous pull (ACR's catalog). */
  | { kind: 'catalog'; anonymous?: false }
  /** `signer`: the `sign` action suffices too, and the handler admits signature artifacts only (RequestAccess.admitManifest). */
  | { kind: 'repository'; name: string; action: 'pull' | 'push' | 'delete' | 'metadata_read' | 'metadata_write'; signer?: boolean }
  /** A signed URL (query `t`) for one blob of one repository: the URL is the credential. */
  | { kind: 'signed-blob'; name: string; digest: string };

/** What one method of a route needs, from its request (the repository and digest of its path). */
export type Access = (ctx: Ctx) => Requirement;

const fixed =
  (need: Requirement): Access =>
  () =>
    need;
const repository =
  (action: 'pull' | 'delete' | 'metadata_read' | 'metadata_write'): Access =>
  (ctx) => ({ kind: 'repository', name: ctx.name, action });

/** The requirements a route declares beside each handler (`GET: { access: needs.pull, handler }`). */
export const needs = {
  public: fixed({ kind: 'public' }),
  authenticated: fixed({ kind: 'authenticated' }),
  admin: fixed({ kind: 'admin' }),
  catalog: fixed({ kind: 'catalog' }),
  /** The catalog of ACR's metadata API: never anonymous. */
  namedCatalog: fixed({ kind: 'catalog', anonymous: false }),
  pull: repository('pull'),
  delete: repository('delete'),
  /** Properties of a repository, its tags and manifests (ACR's metadata API); anonymous where anonymous pull is allowed. */
  metadataRead: repository('metadata_read'),
  /** Changeable attributes (locks) of a repository, its tags and manifests. */
  metadataWrite: repository('metadata_write'),
  /** `push`, or `sign` for signature artifacts only (every push route today admits a signer). */
  pushOrSign: (ctx) => ({ kind: 'repository', name: ctx.name, action: 'push', signer: true }),
  /** The blob of the path (repository, digest) on a signed URL. */
  signedBlob: (ctx) => ({ kind: 'signed-blob', name: ctx.name, digest: ctx.param(1) }),
} satisfies Record<string, Access>;
