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

const READ = new Set(['GET', 'HEAD']);

/**
 * The access each route needs, by route name and method. A route missing here
 * needs an admin: a new route is closed until someone decides otherwise.
 */
export function requirement(route: string, method: string, ctx: Ctx): Requirement {
  const repo = (action: 'pull' | 'push' | 'delete'): Requirement => ({ kind: 'repository', name: ctx.name, action });
  const pushOrSign = (): Requirement => ({ kind: 'repository', name: ctx.name, action: 'push', signer: true });
  switch (route) {
    case 'metrics':
    case 'health':
    case 'ui':
    case 'replication':
    case 'oauth':
      return { kind: 'public' };
    case 'base':
    case 'trust':
      return { kind: 'authenticated' };
    case 'trust-policy':
      return READ.has(method) ? { kind: 'authenticated' } : { kind: 'admin' };
    case 'catalog':
      return { kind: 'catalog' };
    case 'blob-url':
      return { kind: 'signed-blob', name: ctx.name, digest: ctx.param(1) };
    case 'manifests':
      return READ.has(method) ? repo('pull') : method === 'DELETE' ? repo('delete') : pushOrSign();
    case 'blobs':
      return READ.has(method) ? repo('pull') : method === 'DELETE' ? repo('delete') : repo('push');
    case 'uploads':
    case 'upload':
      return pushOrSign();
    case 'tags':
    case 'referrers':
    case 'where':
    case 'trust-tag':
      return repo('pull');
    default:
      return { kind: 'admin' };
  }
}
