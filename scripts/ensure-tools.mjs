#!/usr/bin/env node
// Run by `npm pretest`: makes sure the external tools the tests drive are installed and the
// offline test images exist. Plain Node ESM, no dependencies.
//   - missing tools + root + apt-get: `apt-get update` once, then install the missing packages
//   - missing tools otherwise: name the packages and exit 1
//   - /tmp/lab-images/{small,big,multi}/index.json missing: run ../shared/tools/make-images.sh
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const sharedDir = resolve(repoRoot, '..', 'shared');
const imagesDir = '/tmp/lab-images';

/** binary name → Debian package that provides it */
const TOOLS = [
  ['skopeo', 'skopeo'],
  ['umoci', 'umoci'],
  ['jq', 'jq'],
  ['curl', 'curl'],
  ['docker-registry', 'docker-registry'],
  ['nats-server', 'nats-server'],
  ['protoc', 'protobuf-compiler'],
  ['prometheus', 'prometheus'],
  ['chromium', 'chromium'],
  ['openssl', 'openssl'],
  ['podman', 'podman'],
  ['ip', 'iproute2'],
  ['nft', 'nftables'],
  // deploy/compose: validated by the unit tests, run by `npm run e2e:compose` (its own dockerd)
  ['docker-compose', 'docker-compose'],
  ['dockerd', 'docker.io'],
  ['mmdebstrap', 'mmdebstrap'],
];

// apt installs into /usr/sbin etc., which a non-login PATH may lack.
const SEARCH_PATH = [
  ...(process.env.PATH ?? '').split(delimiter),
  '/usr/local/sbin',
  '/usr/local/bin',
  '/usr/sbin',
  '/usr/bin',
  '/sbin',
  '/bin',
].filter((d, i, all) => d !== '' && all.indexOf(d) === i);

function which(bin) {
  for (const dir of SEARCH_PATH) {
    const p = join(dir, bin);
    try {
      const st = statSync(p);
      if (st.isFile() && (st.mode & 0o111) !== 0) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

function fail(msg) {
  process.stderr.write(`ensure-tools: ${msg}\n`);
  process.exit(1);
}

function run(cmd, args, env) {
  process.stderr.write(`ensure-tools: $ ${cmd} ${args.join(' ')}\n`);
  const r = spawnSync(cmd, args, { cwd: repoRoot, stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.error) fail(`${cmd} could not start: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} ${args.join(' ')} exited with ${r.signal ?? r.status}`);
}

// 1. tools
const missing = TOOLS.filter(([bin]) => !which(bin));
if (missing.length > 0) {
  const pkgs = [...new Set(missing.map(([, pkg]) => pkg))];
  const bins = missing.map(([bin]) => bin).join(', ');
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const aptGet = which('apt-get');
  if (!isRoot || !aptGet) {
    fail(
      `missing tools: ${bins}.\n` +
        `  Install the Debian packages: ${pkgs.join(' ')}\n` +
        `  e.g. sudo apt-get update && sudo apt-get install -y ${pkgs.join(' ')}\n` +
        `  (${!isRoot ? 'not running as root' : 'apt-get not found'}, so not installing them automatically)`,
    );
  }
  process.stderr.write(`ensure-tools: missing ${bins}; installing ${pkgs.join(' ')}\n`);
  run(aptGet, ['update']);
  run(aptGet, ['install', '-y', ...pkgs], { DEBIAN_FRONTEND: 'noninteractive' });
  const still = TOOLS.filter(([bin]) => !which(bin)).map(([bin]) => bin);
  if (still.length > 0) fail(`still missing after apt-get install: ${still.join(', ')}`);
}

// 2. test images
const images = ['small', 'big', 'multi'];
if (!images.every((img) => existsSync(join(imagesDir, img, 'index.json')))) {
  const script = join(sharedDir, 'tools', 'make-images.sh');
  if (!existsSync(script)) {
    fail(
      `test images missing in ${imagesDir} and ${script} not found.\n` +
        `  The shared folder must sit beside the repository (${sharedDir}).`,
    );
  }
  process.stderr.write(`ensure-tools: building test images in ${imagesDir} (about 5 s)\n`);
  run('bash', [script], {});
}
