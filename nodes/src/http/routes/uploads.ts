import { type Digest, parseDigest, parseName, oci, apiPattern, apiPaths } from 'georeg/oci';
import type { Registry } from '../../registry/registry.js';
import type { ChunkRange } from '../../registry/uploads.js';
import { hasBody } from '../body.js';
import type { Ctx } from '../context.js';
import { parseContentRange } from '../range.js';
import { needs } from '../../auth/access.js';
import type { Route } from '../router.js';

function uploadHeaders(name: string, id: string, size: number): Record<string, string | number> {
  return {
    Location: apiPaths.upload(name, id),
    Range: `0-${Math.max(0, size - 1)}`,
    'Docker-Upload-UUID': id,
    'Content-Length': 0,
  };
}

function blobCreated(ctx: Ctx, name: string, digest: Digest): void {
  ctx.send(201, { Location: apiPaths.blob(name, digest), 'Docker-Content-Digest': digest, 'Content-Length': 0 });
}

/** A chunk's Content-Range must agree with its Content-Length when both are given. */
function chunkRange(ctx: Ctx): ChunkRange | undefined {
  const range = parseContentRange(ctx.header('content-range'));
  const cl = ctx.header('content-length');
  if (range && cl !== undefined && Number(cl) !== range.end - range.start + 1) {
    throw oci('BLOB_UPLOAD_RANGE', 'Content-Range does not match Content-Length');
  }
  return range;
}

export function uploadRoutes(registry: Registry): Route[] {
  const uploads = registry.uploads;
  const start: Route = {
    name: 'uploads',
    pattern: apiPattern('uploads'),
    methods: {
      POST: {
        access: needs.pushOrSign,
        async handler(ctx) {
          const name = ctx.name;
          const mount = ctx.q('mount');
          const from = ctx.q('from');
          // A mount only from a repository the caller may pull (with authentication on); otherwise a plain upload starts.
          const source = mount !== undefined && from !== undefined ? parseName(from) : undefined;
          if (mount !== undefined && source !== undefined && (ctx.access?.can(source, 'pull') ?? true)) {
            const digest = parseDigest(mount);
            if (await registry.blobs.mount(name, source, digest)) return blobCreated(ctx, name, digest);
          }
          const digestParam = ctx.q('digest');
          if (digestParam !== undefined) {
            const digest = parseDigest(digestParam);
            await uploads.monolithic(name, digest, ctx.req);
            return blobCreated(ctx, name, digest);
          }
          const session = await uploads.start(name);
          ctx.send(202, uploadHeaders(name, session.id, 0));
        },
      },
    },
  };
  const session: Route = {
    name: 'upload',
    pattern: apiPattern('upload'),
    methods: {
      GET: {
        access: needs.pushOrSign,
        async handler(ctx) {
          const name = ctx.name;
          const id = ctx.param(1);
          ctx.send(204, uploadHeaders(name, id, await uploads.status(name, id)));
        },
      },
      PATCH: {
        access: needs.pushOrSign,
        async handler(ctx) {
          const name = ctx.name;
          const id = ctx.param(1);
          const size = await uploads.append(name, id, ctx.req, chunkRange(ctx));
          ctx.send(202, uploadHeaders(name, id, size));
        },
      },
      PUT: {
        access: needs.pushOrSign,
        async handler(ctx) {
          const name = ctx.name;
          const id = ctx.param(1);
          const digest = parseDigest(ctx.q('digest') ?? '');
          const range = chunkRange(ctx);
          await uploads.finish(name, id, digest, hasBody(ctx.req) ? ctx.req : undefined, range);
          blobCreated(ctx, name, digest);
        },
      },
      DELETE: {
        access: needs.pushOrSign,
        async handler(ctx) {
          await uploads.cancel(ctx.name, ctx.param(1));
          ctx.send(204, { 'Content-Length': 0 });
        },
      },
    },
  };
  return [start, session];
}
