import { lookupReference, parseReference, apiPattern, apiPaths } from 'georeg/oci';
import type { Registry } from '../../registry/registry.js';
import { readLimited } from '../body.js';
import { needs } from '../../auth/access.js';
import type { Route } from '../router.js';
import type { ManifestFetchThrough } from '../fetch-through.js';

/**
 * Manifests are answered with exactly the stored bytes and their stored media
 * type, whatever `Accept` says: georeg never converts between schemas, and a
 * client that cannot use the type it gets fails visibly rather than receiving a
 * 404 for content that exists.
 */
export function manifestRoutes(registry: Registry, fetchThrough?: ManifestFetchThrough): Route {
  const manifests = registry.manifests;
  return {
    name: 'manifests',
    pattern: apiPattern('manifest'),
    methods: {
      GET: {
        access: needs.pull,
        async handler(ctx) {
          const ref = lookupReference(ctx.param(1));
          const get = () => manifests.get(ctx.name, ref);
          const { record, bytes } = await (fetchThrough ? fetchThrough.read(ctx.name, ref, get) : get());
          await registry.locks.check('read', ctx.name, { tags: ref.tag === undefined ? [] : [ref.tag], digest: record.digest });
          const checking = registry.trust.check(ctx.name, ref, record, bytes);
          if (checking) await checking;
          const etag = `"${record.digest}"`;
          const headers = {
            'Content-Type': record.mediaType,
            'Docker-Content-Digest': record.digest,
            ETag: etag,
            'Content-Length': record.size,
          };
          if (ctx.header('if-none-match') === etag) return ctx.send(304, headers);
          ctx.send(200, headers, bytes);
        },
      },
      PUT: {
        access: needs.pushOrSign,
        async handler(ctx) {
          const name = ctx.name;
          const ref = parseReference(ctx.param(1));
          const body = await readLimited(ctx.req, manifests.options.maxManifestBytes, 'MANIFEST_TOO_LARGE');
          ctx.access?.admitManifest(name, ref, body, ctx.header('content-type'));
          const put = () => manifests.put(name, ref, body, ctx.header('content-type'));
          const record = await (fetchThrough ? fetchThrough.put(name, body, ctx.header('content-type'), put) : put());
          const headers: Record<string, string | number> = {
            Location: apiPaths.manifest(name, record.digest),
            'Docker-Content-Digest': record.digest,
            'Content-Length': 0,
          };
          if (record.subject) headers['OCI-Subject'] = record.subject;
          ctx.send(201, headers);
        },
      },
      DELETE: {
        access: needs.delete,
        async handler(ctx) {
          await manifests.delete(ctx.name, parseReference(ctx.param(1)));
          ctx.send(202, { 'Content-Length': 0 });
        },
      },
    },
  };
}
