/**
 * `georeg/test-support`: helpers the tests of every area and the e2e scenarios share. It imports
 * nothing of georeg (eslint.config.js), and nothing of georeg imports it but tests.
 */
export * from './ports.js';
export * from './registry.js';
export * from './compose.js';
export * from './azurite.js';
export * from './s3rver.js';
export * from './postgres.js';
export * from './tcp-proxy.js';
export * from './poll.js';
