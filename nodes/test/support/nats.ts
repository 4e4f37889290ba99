import { type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNatsServer } from 'georeg/test-support';

export { NATS_SERVER } from 'georeg/test-support';

export interface TestNatsOptions {
  /** Credentials the server requires. */
  auth?: { user: string; pass: string };
  /** false: a server without JetStream (default on). */
  jetstream?: boolean;
  /** Serve the HTTP monitoring endpoints (for connections()). */
  monitor?: boolean;
}

/**
 * A real nats-server with JetStream on a port of its choosing (read from its ports file), its
 * store in a temp dir. `stop()` and `start()` again keep the port and the store (a restart: the
 * port its clients know is asked for by number then); `destroy()` removes everything.
 */
export class TestNats {
  private proc?: ChildProcess;
  #log?: () => string;
  #port?: number;
  #monitorPort?: number;

  private constructor(
    readonly dir: string,
    private readonly opts: TestNatsOptions,
  ) {}

  static async start(opts: TestNatsOptions = {}): Promise<TestNats> {
    const n = new TestNats(await mkdtemp(join(tmpdir(), 'georeg-nats-')), opts);
    await n.start();
    return n;
  }

  /** The client port (once started). */
  get port(): number {
    if (this.#port === undefined) throw new Error('TestNats not started');
    return this.#port;
  }

  /** The HTTP monitoring port, when asked for (once started). */
  get monitorPort(): number | undefined {
    return this.#monitorPort;
  }

  /** What the running server wrote to stderr ('' when stopped). */
  get log(): string {
    return this.#log?.() ?? '';
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
    const monitor = this.opts.monitor ? ['-m', String(this.#monitorPort ?? -1)] : [];
    const started = await startNatsServer(
      ['-a', '127.0.0.1', '-p', String(this.#port ?? -1), ...jetstream, ...monitor, ...credentials],
      this.dir,
    );
    this.proc = started.child;
    this.#log = started.log;
    this.#port = started.port;
    this.#monitorPort = started.monitorPort;
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    this.proc = undefined;
    this.#log = undefined;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    });
  }

  /**
   * Freeze the server (SIGSTOP) as a partition would cut it off: connections stay open and
   * requests get no answer, until `thaw()`.
   */
  freeze(): void {
    this.proc?.kill('SIGSTOP');
  }

  thaw(): void {
    this.proc?.kill('SIGCONT');
  }

  async destroy(): Promise<void> {
    this.thaw();
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
