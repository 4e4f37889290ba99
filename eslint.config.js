// ESLint (flat config): `npm run lint`, run by `npm test`'s pretest.
// Layering below follows docs/architecture.md ("Dependencies point one way").
import { readFileSync } from 'node:fs';
import { defineConfig } from 'eslint/config';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { importX, createNodeResolver } from 'eslint-plugin-import-x';
import globals from 'globals';

// `georeg/<area>` (the package importing itself) resolves to the area's source, from package.json's
// exports (`./nodes/dist/src/index.d.ts` → `nodes/src/index.ts`), so layering and cycles need no build.
const { exports } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
const alias = Object.fromEntries(
  Object.entries(exports).map(([k, v]) => [
    `georeg${k.slice(1)}$`,
    [new URL(v.types.replace('/dist/', '/').replace(/\.d\.ts$/, '.ts'), import.meta.url).pathname],
  ]),
);

/** `from` may not be imported by files under `target` (resolved paths, relative to this folder). */
const zone = (target, from, message, except) => ({ target, from, message, ...(except && { except }) });
const layering = [
  zone(
    'oci',
    ['trust', 'proto', 'nodes', 'replication', 'cli', 'e2e', 'bench', 'test-support'],
    'oci is the leaf every area shares (digests, names, media types, descriptors, manifests, the error table): it imports nothing else of the project.',
  ),
  zone(
    'trust',
    ['nodes', 'replication', 'cli', 'e2e', 'bench'],
    'trust is the pure library: it imports oci and nothing of nodes, replication or cli.',
  ),
  zone(
    'proto',
    ['oci', 'trust', 'nodes', 'replication', 'cli', 'e2e', 'bench'],
    'proto is the shared contract: it imports nothing of the rest.',
  ),
  zone(
    'nodes',
    ['replication', 'cli', 'e2e', 'bench'],
    'nodes imports nothing of replication or cli (oci ← trust ← nodes ← replication; cli wires them).',
  ),
  zone('replication', ['cli', 'e2e', 'bench'], 'replication imports nothing of cli.'),
  zone('cli', ['e2e', 'bench'], 'cli imports nothing of e2e.'),
  zone(
    'e2e',
    ['trust', 'proto', 'nodes', 'replication', 'cli', 'bench'],
    'e2e talks to built processes only (black box): its own support, test-support, oci and public packages.',
  ),
  zone(
    'test-support',
    ['trust', 'proto', 'nodes', 'replication', 'cli', 'e2e', 'bench'],
    'test-support is shared by the tests of every area and by e2e (black box): of the project it imports only oci, the leaf (the API paths clients share with the node).',
  ),
  zone(
    ['oci/src', 'trust/src', 'proto/gen', 'proto/index.ts', 'nodes/src', 'replication/src', 'cli/src'],
    ['test-support'],
    'test-support is for tests: no source imports it.',
  ),
  zone(
    ['nodes/src/storage', 'nodes/src/meta'],
    ['nodes/src/http', 'nodes/src/auth', 'nodes/src/registry', 'nodes/src/events', 'nodes/src/trust'],
    'storage and meta are below the services: they know no HTTP, auth, services or events.',
  ),
  zone(
    ['nodes/src/registry', 'nodes/src/events', 'nodes/src/trust'],
    ['nodes/src/http'],
    'the domain services know no HTTP: only http/ turns their errors into OCI error bodies.',
  ),
];
const noHttp = {
  name: ['node:http', 'node:https', 'node:http2'],
  message: 'storage, meta and the domain services know no HTTP (docs/architecture.md).',
};

export default defineConfig(
  { ignores: ['**/dist/', 'proto/gen/', 'node_modules/', 'test-artifacts/', 'data/', 'cluster-data/', 'bench-results/', 'results/'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.mjs', '.js'],
      'import-x/resolver-next': [
        createNodeResolver({ extensions: ['.ts', '.mjs', '.js', '.json', '.node'], extensionAlias: { '.js': ['.ts', '.js'] }, alias }),
      ],
    },
    languageOptions: { globals: globals.node },
    rules: {
      'import-x/no-cycle': ['error', { ignoreExternal: true }], // a package in node_modules cannot import ours back
      'import-x/no-restricted-paths': ['error', { basePath: import.meta.dirname, zones: layering }],
      // `_` names a binding kept unused on purpose (`for await (const _ of items) n++`), as tsc's noUnusedLocals allows.
      '@typescript-eslint/no-unused-vars': ['error', { varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.object.name=/^(describe|context|it|specify|suite|test)$/][callee.property.name='only']",
          message: '.only would run this test alone and skip the rest.',
        },
      ],
    },
  },
  {
    files: ['nodes/src/storage/**', 'nodes/src/meta/**', 'nodes/src/registry/**', 'nodes/src/events/**', 'nodes/src/trust/**'],
    rules: { 'no-restricted-imports': ['error', { paths: noHttp.name.map((name) => ({ name, message: noHttp.message })) }] },
  },
  // The status page's script runs in the browser.
  { files: ['nodes/ui/**/*.js'], languageOptions: { globals: globals.browser } },
);
