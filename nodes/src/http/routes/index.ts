import type { Registry } from '../../registry/registry.js';
import type { GcOptions } from '../../registry/gc.js';
import type { Route } from '../router.js';
import type { NodeStatus } from '../../status.js';
import type { NodeMetrics } from '../../metrics.js';
import { adminRoutes } from './admin.js';
import { baseRoute } from './base.js';
import { blobRoutes } from './blobs.js';
import { listingRoutes } from './listing.js';
import { manifestRoutes } from './manifests.js';
import { uploadRoutes } from './uploads.js';
import { trustRoutes } from './trust.js';
import { uiRoutes } from './ui.js';

/** Every route of a node, most specific first (upload paths before blob paths). */
export function registryRoutes(registry: Registry, gc: Omit<GcOptions, 'dryRun'>, status: NodeStatus, metrics: NodeMetrics): Route[] {
  return [
    baseRoute(),
    manifestRoutes(registry),
    ...uploadRoutes(registry),
    blobRoutes(registry),
    ...listingRoutes(registry),
    ...adminRoutes(registry, gc, status, metrics),
    ...trustRoutes(registry),
    ...uiRoutes(),
  ];
}
