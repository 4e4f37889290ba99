/** The public surface of oci/: what every part of georeg shares of the OCI specs. Imports nothing else of the project. */
export * from './errors.js';
export * from './digest.js';
export * from './names.js';
export * from './media-types.js';
export * from './descriptor.js';
export * from './manifest.js';
export * from './api-paths.js';
