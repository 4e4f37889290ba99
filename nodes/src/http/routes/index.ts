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
import { acrRoutes } from './acr.js';
import { trustRoutes } from './trust.js';
import { uiRoutes } from './ui.js';
import { oauthRoutes } from './oauth.js';
import { authOffRoutes, identityRoutes } from './identities.js';
import type { AuthService } from '../../auth/service.js';
import type { BlobRedirects } from '../blob-redirect.js';
import type { ManifestFetchThrough } from '../fetch-through.js';
import type { BlobStreamThrough } from '../blob-stream-through.js';
import type { UploadSessions } from '../upload-forward.js';
import type { StorageDownloads } from '../storage-downloads.js';

/** With authentication on, every handler runs only after the caller is authorised for what its route declares it needs. */
function protect(route: Route, auth: AuthService): Route {
  const methods: Route['methods'] = {};
  for (const [method, endpoint] of Object.entries(route.methods)) {
    if (!endpoint) continue;
    const { access, handler } = endpoint;
    methods[method] = {
      access,
      async handler(ctx) {
        await auth.authorize(ctx, access(ctx));
        await handler(ctx);
      },
    };
  }
  return { ...route, methods };
}

/** Every route of a node, most specific first (upload paths before blob paths). */
export function registryRoutes(
  registry: Registry,
  gc: Omit<GcOptions, 'dryRun'>,
  status: NodeStatus,
  metrics: NodeMetrics,
  auth?: AuthService,
  redirects?: BlobRedirects,
  fetchThrough?: ManifestFetchThrough,
  sessions?: UploadSessions,
  streaming?: BlobStreamThrough,
  downloads?: StorageDownloads,
): Route[] {
  const routes = [
    baseRoute(),
    manifestRoutes(registry, fetchThrough),
    ...uploadRoutes(registry, sessions),
    ...blobRoutes(registry, redirects, streaming, downloads),
    ...listingRoutes(registry),
    ...acrRoutes(registry),
    ...adminRoutes(registry, gc, status, metrics, redirects),
    ...trustRoutes(registry),
    ...uiRoutes(),
    ...(auth ? [...oauthRoutes(auth), ...identityRoutes(auth.identities)] : authOffRoutes()),
  ];
  return auth ? routes.map((r) => protect(r, auth)) : routes;
}
