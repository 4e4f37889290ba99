import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NATS_SERVER = '/usr/sbin/nats-server';

/** A free TCP port on 127.0.0.1 (the OS picks; we release it right away). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface TestNatsOptions {
  /** Credentials the server requires. */
  auth?: { user: string; pass: string };
  /** false: a server without JetStream (default on). */
  jetstream?: boolean;
  /** Serve the HTTP monitoring endpoints (for connections()). */
  monitor?: boolean;
}

/**
 * A real nats-server with JetStream on a free port, its store in a temp dir.
 * `stop()` and `start()` again keep the port and the store (a restart);
 * `destroy()` removes everything.
 */
export class TestNats {
  private proc?: ChildProcess;
  log = '';

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly opts: TestNatsOptions,
    /** The HTTP monitoring port, when asked for. */
    readonly monitorPort?: number,
  ) {}

  static async start(opts: TestNatsOptions = {}): Promise<TestNats> {
    const n = new TestNats(await freePort(), await mkdtemp(join(tmpdir(), 'georeg-nats-')), opts, opts.monitor ? await freePort() : undefined);
    await n.start();
    return n;
  }

  get auth(): { user: string; pass: string } | undefined {
    return this.opts.auth;
  }

  /** Client connections the server holds now (its /varz); needs `monitor`. */
  async connections(): Promise<number> {
    if (!this.monitorPort) throw new Error('TestNats started without monitor');
    const res = await fetch(`http://127.0.0.1:${this.monitorPort}/varz`);
    return ((await res.json()) as { connections: number }).connections;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const credentials = this.auth ? ['--user', this.auth.user, '--pass', this.auth.pass] : [];
    const jetstream = this.opts.jetstream === false ? [] : ['-js', '-sd', this.dir];
    const monitor = this.monitorPort ? ['-m', String(this.monitorPort)] : [];
    const proc = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(this.port), ...jetstream, ...monitor, ...credentials], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.proc = proc;
    await new Promise<void>((resolve, reject) => {
      proc.stderr?.setEncoding('utf8');
      proc.stderr?.on('data', (chunk: string) => {
        this.log += chunk;
        if (this.log.includes('Server is ready')) resolve();
      });
      proc.once('exit', (code) => reject(new Error(`nats-server exited with ${code}: ${this.log.slice(-2000)}`)));
    });
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    this.proc = undefined;
    this.log = '';
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    });
  }

  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
