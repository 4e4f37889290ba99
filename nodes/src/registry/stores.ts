import type { BlobDriver } from '../storage/driver.js';
import type { MetaStore } from '../meta/store.js';

/** The storage under a registry: blob bytes and metadata. */
export interface RegistryStores {
  driver: BlobDriver;
  meta: MetaStore;
}
