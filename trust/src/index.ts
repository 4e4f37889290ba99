/** The public surface of trust/: keys, statements, bundles, policies and decisions. No servers, no network. */
export * from './keys.js';
export * from './statements.js';
export * from './dsse.js';
export * from './artifacts.js';
export * from './policy.js';
export * from './evaluate.js';
