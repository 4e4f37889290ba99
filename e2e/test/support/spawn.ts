import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listeningUrl, portOf, startNatsServer } from 'georeg/test-support';

// The tests' poll is shared with the other areas' tests.
export { poll } from 'georeg/test-support';
import { freePort } from './process.js';

/** Start a process quietly (access log off), its stderr piped for `ready`. */
export function start(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(cmd, args, { env: { ...process.env, GEOREG_LOG_ACCESS: 'false', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Resolves once the child's stderr matches `line`; rejects if it exits first. */
export function ready(child: ChildProcess, line: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stderr?.on('data', (c: Buffer) => {
      seen += c.toString();
      if (line.test(seen)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code} before ready: ${seen.slice(-2000)}`)));
  });
}

/** One HTTP request with a body (a Buffer, or chunks streamed with back-pressure); resolves with the status. */
export function send(
  method: string,
  url: string,
  body?: Buffer | Iterable<Buffer>,
  headers: Record<string, string | number> = {},
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    if (body === undefined || Buffer.isBuffer(body)) return req.end(body);
    const it = body[Symbol.iterator]();
    const pump = (): void => {
      for (let n = it.next(); !n.done; n = it.next()) if (!req.write(Buffer.from(n.value))) return void req.once('drain', pump);
      req.end();
    };
    pump();
  });
}

/**
 * Two regions, eu and us, as processes: one nats-server and a `georeg serve`
 * per region replicating from the other, data in a temp dir. `serve(region)`
 * (re)starts a region's node; `close()` kills every process and removes the data.
 * With `external`, each region's replication runs in its own `georeg replicate`
 * process beside its node (`replicate(region)` (re)starts it).
 *
 * nats-server and the nodes choose their ports (a node restarted asks for the one it had: its
 * URL is known). The replication ports are taken before anything starts: each region's settings
 * name the other's.
 */
export class TwoRegions {
  readonly children: ChildProcess[] = [];
  /** Each node's URL, once it listens. */
  readonly url: Record<'eu' | 'us', string> = { eu: '', us: '' };

  private constructor(
    private readonly dir: string,
    private readonly cliMain: string,
    private readonly natsPort: number,
    private readonly replicationPorts: Record<'eu' | 'us', number>,
    readonly external: boolean,
    private readonly settings: NodeJS.ProcessEnv,
  ) {}

  /** `settings`: GEOREG_* variables every process of both regions gets besides their own. */
  static async start(
    cliMain: string,
    { external = false, settings = {} }: { external?: boolean; settings?: NodeJS.ProcessEnv } = {},
  ): Promise<{ regions: TwoRegions; eu: ChildProcess; us: ChildProcess; replicators?: Record<'eu' | 'us', ChildProcess> }> {
    const dir = await mkdtemp(join(tmpdir(), 'georeg-two-regions-'));
    const [euRepl, usRepl] = await Promise.all([freePort(), freePort()]);
    const nats = await startNatsServer(['-a', '127.0.0.1', '-p', '-1', '-js', '-sd', `${dir}/nats`], dir);
    const regions = new TwoRegions(dir, cliMain, nats.port, { eu: euRepl, us: usRepl }, external, settings);
    regions.children.push(nats.child);
    try {
      // Each node logs its address ("registry listening", which serve() reads) before it replicates.
      const [eu, us] = [regions.serve('eu'), regions.serve('us')];
      if (!external) {
        await Promise.all([ready(eu, /"msg":"replicating"/), ready(us, /"msg":"replicating"/)]);
        return { regions, eu, us };
      }
      await Promise.all([ready(eu, /region store listening/), ready(us, /region store listening/)]);
      const replicators = { eu: regions.replicate('eu'), us: regions.replicate('us') };
      await Promise.all([ready(replicators.eu, /"msg":"replicating"/), ready(replicators.us, /"msg":"replicating"/)]);
      return { regions, eu, us, replicators };
    } catch (e) {
      await regions.close(); // no process outlives a start that failed
      throw e;
    }
  }

  /** The settings a region's processes share. */
  private env(region: 'eu' | 'us'): NodeJS.ProcessEnv {
    const peer = region === 'eu' ? 'us' : 'eu';
    return {
      ...this.settings,
      GEOREG_REGION: region,
      GEOREG_NATS_URL: `nats://127.0.0.1:${this.natsPort}`,
      GEOREG_REPLICATION_LISTEN: `127.0.0.1:${this.replicationPorts[region]}`,
      GEOREG_REPLICATION_PEERS: `${peer}=127.0.0.1:${this.replicationPorts[peer]}`,
      ...(this.external ? { GEOREG_REPLICATION_EXTERNAL: 'true' } : {}),
    };
  }

  /** Start the region's `georeg replicate` process (again), beside its node. */
  replicate(region: 'eu' | 'us'): ChildProcess {
    const c = start(process.execPath, [this.cliMain, 'replicate', '--data', `${this.dir}/${region}`], this.env(region));
    this.children.push(c);
    return c;
  }

  /**
   * Start the region's node (again: on the port it had); it replicates from the other region. Its
   * first start takes a port of its choosing: the region's URL is set from its log line saying so
   * (read from the moment it is spawned, so before any later line the caller waits for).
   */
  serve(region: 'eu' | 'us'): ChildProcess {
    const port = this.url[region] ? portOf(this.url[region]) : 0;
    const c = start(
      process.execPath,
      [this.cliMain, 'serve', '--listen', `127.0.0.1:${port}`, '--data', `${this.dir}/${region}`],
      this.env(region),
    );
    this.children.push(c);
    if (!this.url[region]) {
      let seen = '';
      const onData = (chunk: Buffer): void => {
        seen += chunk.toString();
        const url = listeningUrl(seen);
        if (!url) return;
        c.stderr?.off('data', onData);
        this.url[region] = url;
      };
      c.stderr?.on('data', onData);
    }
    return c;
  }

  /** The directory holding each region's data (`<dir>/<region>`). */
  get dataDir(): string {
    return this.dir;
  }

  async close(): Promise<void> {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await rm(this.dir, { recursive: true, force: true });
  }
}
