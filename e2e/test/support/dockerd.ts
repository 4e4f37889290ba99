/**
 * A Docker daemon of the test's own (Debian's docker.io: dockerd 20.10 with the classic builder),
 * its state in a directory of the test's that `stop()` removes: images, containers, networks and
 * volumes go with it. Its default bridge is docker0 (image builds use it to reach npm's registry),
 * so no other dockerd may run on this host meanwhile.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { poll } from './spawn.js';

export class Dockerd {
  log = '';

  private constructor(
    readonly dir: string,
    private readonly child: ChildProcess,
  ) {
    child.stderr?.on('data', (c: Buffer) => (this.log += c.toString()));
  }

  /** What docker, docker-compose and scripts need to talk to this daemon (classic builder). */
  get env(): Record<string, string> {
    return { DOCKER_HOST: `unix://${this.socket}`, DOCKER_BUILDKIT: '0', COMPOSE_DOCKER_CLI_BUILD: '0' };
  }

  private get socket(): string {
    return join(this.dir, 'docker.sock');
  }

  /** Start dockerd with its state under `dir` (which must exist), resolving once its API answers. */
  static async start(dir: string): Promise<Dockerd> {
    if (process.getuid?.() !== 0) throw new Error('dockerd needs root: run the compose e2e as root (CI does)');
    const args = [
      ...['--data-root', join(dir, 'root'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'pid')],
      ...['-H', `unix://${join(dir, 'docker.sock')}`, '--default-ulimit', 'nofile=4096:8192'],
    ];
    const child = spawn('dockerd', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const daemon = new Dockerd(dir, child);
    const exited = new Promise<never>((_, reject) => {
      child.once('error', (e) => reject(new Error(`cannot run dockerd (Debian package docker.io): ${e.message}`)));
      child.once('exit', (code, signal) => reject(new Error(`dockerd exited with ${code ?? signal}:\n${daemon.log.slice(-3000)}`)));
    });
    exited.catch(() => undefined);
    await Promise.race([poll(60_000, 'dockerd to answer /_ping', () => daemon.ping(), 200), exited]);
    return daemon;
  }

  private ping(): Promise<true | undefined> {
    return new Promise((resolve) => {
      const req = request({ socketPath: this.socket, path: '/_ping' }, (res) => {
        res.resume();
        resolve(res.statusCode === 200 ? true : undefined);
      });
      req.on('error', () => resolve(undefined));
      req.end();
    });
  }

  /** `docker ARGS` against this daemon; resolves with its stdout, rejects with its stderr. */
  docker(args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile('docker', args, { env: { ...process.env, ...this.env }, maxBuffer: 64 << 20 }, (err, stdout, stderr) =>
        err ? reject(new Error(`docker ${args.join(' ')} failed: ${stderr.slice(-3000)}`)) : resolve(stdout),
      );
    });
  }

  /** SIGTERM (dockerd stops its containers), SIGKILL after 30 s; then remove its state, mounts left behind first. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((res) => child.once('exit', () => res()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await gone;
      clearTimeout(timer);
    }
    const mounts = (await readFile('/proc/self/mounts', 'utf8'))
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(`${this.dir}/`))
      .reverse();
    for (const m of mounts) await new Promise((res) => execFile('umount', ['-l', m], res));
    await rm(this.dir, { recursive: true, force: true });
  }
}
