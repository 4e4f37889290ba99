import type { Registry } from '../../registry/registry.js';
import { runGc, type GcOptions } from '../../registry/gc.js';
import type { NodeMetrics } from '../../metrics.js';
import { needs } from '../../auth/access.js';
import type { Route } from '../router.js';
import { oci, parseReference, apiPattern } from 'georeg/oci';
import { readLimited } from '../body.js';
import type { NodeStatus } from '../../status.js';
import type { BlobRedirects, ClientRoute } from '../blob-redirect.js';
import { isIP } from 'node:net';

/**
 * georeg's own API under /georeg/v1. Until authentication lands, bind the node to
 * a trusted address (the default is 127.0.0.1).
 */
export function adminRoutes(
  registry: Registry,
  gc: Omit<GcOptions, 'dryRun'>,
  status: NodeStatus,
  metrics: NodeMetrics,
  redirects?: BlobRedirects,
): Route[] {
  return [
    {
      name: 'replication',
      pattern: apiPattern('replication'),
      methods: {
        GET: {
          access: needs.public,
          async handler(ctx) {
            ctx.json(200, await status.snapshot(ctx.q('all') === 'true'));
          },
        },
      },
    },
    {
      name: 'routing',
      pattern: apiPattern('routing'),
      methods: {
        GET: {
          access: needs.public,
          async handler(ctx) {
            const client = ctx.q('client');
            if (client !== undefined && !isIP(client))
              throw oci('ROUTING_INVALID', `client must be an IPv4 or IPv6 address, got ${JSON.stringify(client.slice(0, 64))}`);
            const route: ClientRoute | undefined =
              client === undefined
                ? undefined
                : ((await redirects?.route(client)) ?? { address: client, region: status.region, sentTo: status.region, reason: 'off' });
            ctx.json(200, { region: status.region, ...status.drain.record, ...(route && { client: route }) });
          },
        },
        PUT: {
          access: needs.admin,
          async handler(ctx) {
            const { drained, reason } = drainRequest(await readLimited(ctx.req, 4096, 'ROUTING_INVALID'));
            const record = await status.drain.set(drained, reason);
            ctx.log.info(drained ? 'region drained: peers send no client here' : 'region back in routing', { reqId: ctx.id, reason });
            ctx.json(200, { region: status.region, ...record });
          },
        },
      },
    },
    {
      name: 'where',
      pattern: apiPattern('where'),
      methods: {
        GET: {
          access: needs.pull,
          async handler(ctx) {
            const name = ctx.name;
            const ref = parseReference(ctx.param(1));
            ctx.json(200, { repository: name, reference: ref.digest ?? ref.tag, regions: await status.where(name, ref) });
          },
        },
      },
    },
    {
      name: 'metrics',
      pattern: apiPattern('metrics'),
      methods: {
        GET: {
          access: needs.public,
          async handler(ctx) {
            ctx.send(200, { 'Content-Type': metrics.contentType }, Buffer.from(await metrics.text()));
          },
        },
      },
    },
    {
      name: 'health',
      pattern: apiPattern('health'),
      methods: {
        GET: {
          access: needs.public,
          handler(ctx) {
            ctx.json(200, { status: 'ok' });
          },
        },
      },
    },
    {
      name: 'gc',
      pattern: apiPattern('gc'),
      methods: {
        POST: {
          access: needs.admin,
          async handler(ctx) {
            const dryRun = ctx.q('dryRun') === 'true' || ctx.q('dryRun') === '1';
            ctx.json(200, await runGc(registry, { ...gc, dryRun }, ctx.log, metrics));
          },
        },
      },
    },
  ];
}

/** `{"drained": true|false, "reason"?: "..."}`, or 400 ROUTING_INVALID saying what is expected. */
function drainRequest(body: Buffer): { drained: boolean; reason?: string } {
  const expected = 'expected {"drained": true or false, "reason": "optional text"}';
  let b: { drained?: unknown; reason?: unknown } | null;
  try {
    b = JSON.parse(body.toString('utf8')) as typeof b;
  } catch {
    throw oci('ROUTING_INVALID', `not JSON: ${expected}`);
  }
  if (typeof b !== 'object' || b === null || typeof b.drained !== 'boolean') throw oci('ROUTING_INVALID', expected);
  const { drained, reason } = b;
  if (reason !== undefined && (typeof reason !== 'string' || reason.length > 200 || [...reason].some((c) => c < ' ')))
    throw oci('ROUTING_INVALID', 'reason must be one line of at most 200 characters');
  return { drained, ...(reason ? { reason } : {}) };
}
