import { type Digest, parseDigest, parseName, oci, apiPattern, apiPaths } from 'georeg/oci';
import type { Registry } from '../../registry/registry.js';
import type { ChunkRange } from '../../registry/uploads.js';
import { hasBody } from '../body.js';
import type { Ctx } from '../context.js';
import { parseContentRange } from '../range.js';
import { needs } from '../../auth/access.js';
import type { Route } from '../router.js';
import type { UploadSessions } from '../upload-forward.js';

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

export function uploadRoutes(registry: Registry, sessions?: UploadSessions): Route[] {
  const uploads = registry.uploads;
  /** The session as the client names it, and its id here; no id when another region holds it (the request was forwarded there). */
  const local = async (ctx: Ctx): Promise<{ given: string; id?: string }> => {
    const given = ctx.param(1);
    const where = sessions ? sessions.resolve(given) : { id: given };
    if ('id' in where) return { given, id: where.id };
    await (sessions as UploadSessions).forward(ctx, where.region, given);
    return { given };
  };
  const start: Route = {
    name: 'uploads',
    pattern: apiPattern('uploads'),
    methods: {
      POST: {
        access: needs.pushOrSign,
        async handler(ctx) {
          const name = ctx.name;
          await registry.locks.check('write', name);
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
          ctx.send(202, uploadHeaders(name, sessions ? sessions.qualify(session.id) : session.id, 0));
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
          const { given, id } = await local(ctx);
          if (id !== undefined) ctx.send(204, uploadHeaders(ctx.name, given, await uploads.status(ctx.name, id)));
        },
      },
      PATCH: {
        access: needs.pushOrSign,
        async handler(ctx) {
          const { given, id } = await local(ctx);
          if (id === undefined) return;
          const size = await uploads.append(ctx.name, id, ctx.req, chunkRange(ctx));
          ctx.send(202, uploadHeaders(ctx.name, given, size));
        },
      },
      PUT: {
        access: needs.pushOrSign,
        async handler(ctx) {
          const { id } = await local(ctx);
          if (id === undefined) return;
          const digest = parseDigest(ctx.q('digest') ?? '');
          const range = chunkRange(ctx);
          await uploads.finish(ctx.name, id, digest, hasBody(ctx.req) ? ctx.req : undefined, range);
          blobCreated(ctx, ctx.name, digest);
        },
      },
      DELETE: {
        access: needs.pushOrSign,
        async handler(ctx) {
          const { id } = await local(ctx);
          if (id === undefined) return;
          await uploads.cancel(ctx.name, id);
          ctx.send(204, { 'Content-Length': 0 });
        },
      },
    },
  };
  return [start, session];
}
