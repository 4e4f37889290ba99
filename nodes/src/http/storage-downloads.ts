import type { Digest } from 'georeg/oci';
import type { SignedBlobUrls } from '../storage/driver.js';
import type { RoutingMetrics } from '../routing-metrics.js';

/**
 * Blob GETs served by the storage service itself, the way ACR serves layers: 307 to a short-lived,
 * read-only URL of that one blob (`storage.azure.redirect`: a SAS URL; `storage.s3.redirect`: a
 * presigned GetObject URL), so the bytes bypass the node. The route decides when (a GET of a blob
 * held here and linked into the repository); HEAD stays here.
 */
export class StorageDownloads {
  constructor(
    private readonly urls: SignedBlobUrls,
    private readonly ttlSeconds: number,
    private readonly metrics?: RoutingMetrics,
  ) {}

  /** Where the client downloads the blob; the URL is a credential, never to be logged whole. */
  async location(digest: Digest): Promise<string> {
    const url = await this.urls.signedUrl(digest, this.ttlSeconds);
    this.metrics?.redirected('storage');
    return url;
  }
}
