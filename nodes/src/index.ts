export * from './oci/errors.js';
export * from './oci/digest.js';
export * from './oci/names.js';
export * from './oci/media-types.js';
export type * from './storage/driver.js';
export type * from './meta/store.js';
