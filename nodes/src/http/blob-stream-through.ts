import { pipeline } from 'node:stream/promises';
import type { Digest } from 'georeg/oci';
import type { NodeStatus } from '../status.js';
import type { RoutingMetrics } from '../routing-metrics.js';
import type { Ctx } from './context.js';

/**
 * A GET of a blob this region does not hold yet that no redirect can answer (no region that holds
 * it has a publicUrl, or replication.redirect is off): the blob is streamed from the nearest peer
 * that holds it in the same repository, to the client while it is stored here
 * (replication.fetchThrough), instead of a 404. The body is checked against the digest on its
 * way; a copy with other content ends it short.
 */
export class BlobStreamThrough {
  constructor(
    private readonly status: NodeStatus,
    private readonly metrics?: RoutingMetrics,
  ) {}

  /** Answer with the blob from a peer; false, with nothing sent, when no reachable peer holds it. */
  async serve(ctx: Ctx, digest: Digest): Promise<boolean> {
    const started = performance.now();
    const through = await this.status.replication?.streamBlob(ctx.name, digest).catch(() => undefined);
    this.metrics?.fetched('blob', through ? 'fetched' : 'absent', (performance.now() - started) / 1000);
    if (!through) return false;
    ctx.log.debug('blob not here yet: streamed from a peer while stored', { reqId: ctx.id, digest });
    ctx.res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Docker-Content-Digest': digest,
      'Content-Length': through.size,
    });
    try {
      await pipeline(through.stream, ctx.res);
    } catch (err) {
      ctx.log.warn('a blob streamed from a peer broke off', { reqId: ctx.id, digest, err });
      ctx.res.destroy();
    }
    return true;
  }
}
