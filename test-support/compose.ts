/**
 * deploy/compose driven by Debian's docker-compose (1.29, the `docker-compose` command; no
 * `docker compose` v2 there), for the tests that validate the compose files and the e2e that runs
 * the stack.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** deploy/compose (this file is test-support/dist/compose.js once built). */
export const COMPOSE_DIR = fileURLToPath(new URL('../../deploy/compose/', import.meta.url));
export const COMPOSE_FILE = `${COMPOSE_DIR}docker-compose.yml`;
export const COMPOSE_SECURE_FILE = `${COMPOSE_DIR}docker-compose.secure.yml`;
export const COMPOSE_SCALE_FILE = `${COMPOSE_DIR}docker-compose.scale.yml`;

/** Run a command to completion in deploy/compose; rejects with its stderr when it fails. */
export function runIn(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
  missing = `${cmd} not found`,
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd: COMPOSE_DIR, env: { ...process.env, ...env }, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if ((err as NodeJS.ErrnoException | null)?.code === 'ENOENT') return reject(new Error(missing));
      if (err) return reject(new Error(`${cmd} ${args.join(' ')} failed (${err.code ?? err.signal}):\n${stderr.slice(-4000)}`));
      resolve({ stdout, stderr });
    });
  });
}

/** `docker-compose ARGS` in deploy/compose, with `env` added to the environment (e.g. DOCKER_HOST, ports). */
export function dockerCompose(args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
  return runIn(
    'docker-compose',
    args,
    env,
    "docker-compose not found: install Debian's docker-compose package (apt-get install -y docker-compose; scripts/ensure-tools.mjs does it for npm test)",
  );
}

export interface ComposeService {
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  restart?: string;
  healthcheck?: { test: string[] };
  networks?: Record<string, { aliases?: string[] } | null>;
}

/**
 * The effective configuration of compose `files` (`docker-compose config`: validated, merged and
 * interpolated), read as JSON. docker-compose prints YAML; its own Python (Debian's python3 with
 * python3-yaml, which docker-compose depends on) reads it.
 */
export async function composeConfig(
  files: string[],
  env: Record<string, string> = {},
): Promise<{ services: Record<string, ComposeService>; volumes?: Record<string, unknown> }> {
  const { stdout } = await dockerCompose([...files.flatMap((f) => ['-f', f]), 'config'], env);
  const json = await new Promise<string>((resolve, reject) => {
    const child = execFile(
      '/usr/bin/python3',
      ['-c', 'import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'],
      (err, out, stderr) => (err ? reject(new Error(`reading docker-compose config's YAML: ${stderr}`)) : resolve(out)),
    );
    child.stdin?.end(stdout);
  });
  return JSON.parse(json) as { services: Record<string, ComposeService> };
}
