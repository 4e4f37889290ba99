import type { Registry } from '../../registry/registry.js';
import { runGc, type GcOptions } from '../../registry/gc.js';
import type { NodeMetrics } from '../../metrics.js';
import { needs } from '../../auth/access.js';
import type { Route } from '../router.js';
import { parseReference, apiPattern } from 'georeg/oci';
import type { NodeStatus } from '../../status.js';

/**
 * georeg's own API under /georeg/v1. Until authentication lands, bind the node to
 * a trusted address (the default is 127.0.0.1).
 */
export function adminRoutes(registry: Registry, gc: Omit<GcOptions, 'dryRun'>, status: NodeStatus, metrics: NodeMetrics): Route[] {
  return [
    {
      name: 'replication',
      pattern: apiPattern('replication'),
      methods: {
        GET: {
          access: needs.public,
          async handler(ctx) {
            ctx.json(200, await status.snapshot());
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
