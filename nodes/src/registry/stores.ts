import type { BlobStore, UploadStaging } from '../storage/driver.js';
import type { MetaStore } from '../meta/store.js';

/** The storage under a registry: committed blobs, upload staging and metadata. */
export interface RegistryStores {
  blobs: BlobStore;
  staging: UploadStaging;
  meta: MetaStore;
}
