import { parseDigest, type Digest, isOciError, apiPattern } from 'georeg/oci';
import type { Registry } from '../../registry/registry.js';
import type { Ctx } from '../context.js';
import { parseRange } from '../range.js';
import { needs } from '../../auth/access.js';
import type { Route } from '../router.js';
import type { BlobRedirects } from '../blob-redirect.js';
import type { BlobStreamThrough } from '../blob-stream-through.js';
import type { StorageDownloads } from '../storage-downloads.js';

/** Blobs up to this size are sent from memory in one write (the driver caches them). */
const SMALL_BLOB = 1024 * 1024;

/**
 * Blob GET, HEAD and DELETE; and the same blobs on signed URLs (`blob-url`),
 * where other regions redirect pulls. A GET of a blob this region does not
 * hold yet is redirected to a region that does, when `redirects` finds one, and
 * otherwise streamed from one while stored here (`streaming`, without a Range).
 * Never a HEAD: a pushing client would take it for "already here" and skip the
 * upload. Never from a signed URL: no redirect loops between regions. A GET of a blob held here
 * goes to the storage service holding it, with `downloads` (Azure with `storage.azure.redirect`),
 * from a signed URL too: the bytes bypass the node.
 */
export function blobRoutes(
  registry: Registry,
  redirects?: BlobRedirects,
  streaming?: BlobStreamThrough,
  downloads?: StorageDownloads,
): Route[] {
  const found = async (ctx: Ctx, digest: Digest, redirect: boolean): Promise<number | undefined> => {
    const placed =
      redirect && ctx.req.method === 'GET' ? await redirects?.placed(ctx.req.socket.remoteAddress, ctx.name, digest) : undefined;
    if (placed) {
      ctx.log.debug('blob GET sent to the region its client is placed in', { reqId: ctx.id, digest, to: placed.replace(/\?.*$/, '') });
      ctx.send(307, { Location: placed, 'Content-Length': 0 });
      return undefined;
    }
    try {
      return await registry.blobs.stat(ctx.name, digest);
    } catch (err) {
      const missing = redirect && ctx.req.method === 'GET' && isOciError(err, 'BLOB_UNKNOWN');
      const to = missing ? await redirects?.location(ctx.name, digest) : undefined;
      if (to) {
        ctx.log.debug('blob not here yet: redirected to a region that holds it', { reqId: ctx.id, digest, to: to.replace(/\?.*$/, '') });
        ctx.send(307, { Location: to, 'Content-Length': 0 });
        return undefined;
      }
      if (missing && ctx.header('range') === undefined && (await streaming?.serve(ctx, digest))) return undefined;
      throw err;
    }
  };

  const get = async (ctx: Ctx, redirect: boolean): Promise<void> => {
    const digest = parseDigest(ctx.param(1));
    // A pull of a read-locked repository is refused; a HEAD is not a pull (a pushing client asks it).
    if (ctx.req.method === 'GET') await registry.locks.check('read', ctx.name);
    const size = await found(ctx, digest, redirect);
    if (size === undefined) return;
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
    if (downloads) {
      const to = await downloads.location(digest);
      ctx.log.debug('blob GET sent to its storage service', { reqId: ctx.id, digest, to: to.replace(/\?.*$/, '') });
      return ctx.send(307, { Location: to, 'Docker-Content-Digest': digest, 'Content-Length': 0 });
    }
    if (size <= SMALL_BLOB) {
      const bytes = await registry.blobs.readAll(digest);
      return ctx.send(status, headers, range ? bytes.subarray(range.start, range.end + 1) : bytes);
    }
    ctx.res.writeHead(status, headers);
    try {
      await registry.blobs.writeTo(digest, ctx.res, range);
      ctx.res.end();
    } catch (err) {
      // The client went away or the disk failed mid-body: nothing more can be said on this response.
      ctx.log.debug('blob body aborted', { reqId: ctx.id, err });
      ctx.res.destroy();
    }
  };

  return [
    {
      name: 'blobs',
      pattern: apiPattern('blob'),
      methods: {
        GET: { access: needs.pull, handler: (ctx) => get(ctx, true) },
        DELETE: {
          access: needs.delete,
          async handler(ctx) {
            await registry.blobs.delete(ctx.name, parseDigest(ctx.param(1)));
            ctx.send(202, { 'Content-Length': 0 });
          },
        },
      },
    },
    {
      name: 'blob-url',
      pattern: apiPattern('blobData'),
      methods: { GET: { access: needs.signedBlob, handler: (ctx) => get(ctx, false) } },
    },
  ];
}
