/**
 * The Docker host that the compose e2e files (`npm run e2e:compose`) share: a dockerd of its own
 * (dockerd.ts), the base images (deploy/ci/base-images.sh: no image registry is reached) and the
 * georeg image, made once on first use and then reused by every file. compose-hooks.ts, a root
 * hook of that run, stops the daemon and removes its state after the last file, on failure too.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMPOSE_FILE, dockerCompose, runIn } from 'georeg/test-support';
import { Dockerd } from './dockerd.js';
import { repoRoot } from './process.js';

export interface ComposeHost {
  /** A temp directory of the run's: the daemon's state and whatever the tests put there. */
  dir: string;
  dockerd: Dockerd;
}

let dir: string | undefined;
let dockerd: Dockerd | undefined;
let started: Promise<ComposeHost> | undefined;

/** Run `step`, print how long it took. */
export async function phase<T>(name: string, step: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  const result = await step();
  console.log(`      phase ${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return result;
}

/** The shared host, started (dockerd, base images, the georeg image) by the first caller. */
export function composeHost(): Promise<ComposeHost> {
  started ??= start();
  return started;
}

async function start(): Promise<ComposeHost> {
  const root = await mkdtemp(join(tmpdir(), 'georeg-compose-e2e-'));
  dir = root;
  const daemon = await phase('dockerd', () => Dockerd.start(join(root, 'docker')));
  dockerd = daemon;
  await phase('base images (deploy/ci/base-images.sh)', () => runIn(join(repoRoot, 'deploy', 'ci', 'base-images.sh'), [], daemon.env));
  await phase('build the georeg image', () => dockerCompose(['-f', COMPOSE_FILE, 'build', 'georeg-eu'], daemon.env));
  const size = Number((await daemon.docker(['image', 'inspect', '--format', '{{.Size}}', 'georeg:latest'])).trim());
  console.log(`      georeg:latest is ${(size / 1e6).toFixed(0)} MB`);
  return { dir: root, dockerd: daemon };
}

/** Stop the daemon (its containers with it) and remove its state and the run's directory. */
export async function stopComposeHost(): Promise<void> {
  if (dockerd) await phase('stop dockerd, remove its state', () => (dockerd as Dockerd).stop());
  if (dir) await rm(dir, { recursive: true, force: true });
  [dir, dockerd, started] = [undefined, undefined, undefined];
}
