import { parseDigest } from '../../oci/digest.js';
import type { Registry } from '../../registry/registry.js';
import type { Ctx } from '../context.js';
import { parseRange } from '../range.js';
import type { Route } from '../router.js';

/** Blobs up to this size are sent from memory in one write (the driver caches them). */
const SMALL_BLOB = 1024 * 1024;

export function blobRoutes(registry: Registry): Route {
  const get = async (ctx: Ctx): Promise<void> => {
    const name = ctx.name;
    const digest = parseDigest(ctx.param(1));
    const size = await registry.blobs.stat(name, digest);
    const etag = `"${digest}"`;
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/octet-stream',
      'Docker-Content-Digest': digest,
      ETag: etag,
      'Accept-Ranges': 'bytes',
      'Cache-Control': 'max-age=31536000',
    };
    if (ctx.header('if-none-match') === etag) return ctx.send(304, headers);
    const range = parseRange(ctx.header('range'), size);
    const status = range ? 206 : 200;
    headers['Content-Length'] = range ? range.end - range.start + 1 : size;
    if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${size}`;
    if (ctx.req.method === 'HEAD') return ctx.send(status, headers);
    if (size <= SMALL_BLOB) {
      const bytes = await registry.driver.readAll(digest);
      return ctx.send(status, headers, range ? bytes.subarray(range.start, range.end + 1) : bytes);
    }
    ctx.res.writeHead(status, headers);
    try {
      await registry.driver.writeTo(digest, ctx.res, range);
      ctx.res.end();
    } catch (err) {
      // The client went away or the disk failed mid-body: nothing more can be said on this response.
      ctx.log.debug('blob body aborted', { reqId: ctx.id, err });
      ctx.res.destroy();
    }
  };

  return {
    name: 'blobs',
    pattern: /^\/v2\/(.+)\/blobs\/([^/]+)$/,
    methods: {
      GET: get,
      async DELETE(ctx) {
        await registry.blobs.delete(ctx.name, parseDigest(ctx.param(1)));
        ctx.send(202, { 'Content-Length': 0 });
      },
    },
  };
}
