import { spawn, type ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { cliMain } from './process.js';
import { poll } from './spawn.js';

export interface ClusterRegion {
  name: string;
  registry: string;
  /** With --nodes-per-region above 1: each node's URL (`registry` is then the region's front). */
  nodes?: string[];
  replication: string;
  nats: string;
}

/** The processes whose parent is `ppid`, with their argv (Linux /proc). */
export async function processesUnder(ppid: number): Promise<{ pid: number; argv: string[] }[]> {
  const found: { pid: number; argv: string[] }[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so count from the last ')'.
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== ppid) continue;
      found.push({ pid: Number(entry), argv: (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0') });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Ports for clusters come from [LOW, EPHEMERAL_START). */
const LOW = 20000;
const EPHEMERAL_START = 32768;

/** Whether ports [base, base+n) are all free on 127.0.0.1 right now. */
async function free(base: number, n: number): Promise<boolean> {
  for (let p = base; p < base + n; p++) {
    const ok = await new Promise<boolean>((res) => {
      const s = createServer();
      s.once('error', () => res(false));
      s.listen(p, '127.0.0.1', () => s.close(() => res(true)));
    });
    if (!ok) return false;
  }
  return true;
}

/**
 * A `--port-base` with `span` free ports from it, below Linux's ephemeral range (32768 and up):
 * an outgoing connection made after the check (a gateway between the nats-servers started
 * first) must not take one of these ports.
 */
export async function freePortBase(span: number): Promise<number> {
  const slots = Math.floor((EPHEMERAL_START - LOW) / span);
  let slot = Math.floor(Math.random() * slots);
  while (!(await free(LOW + slot * span, span))) slot = (slot + 1) % slots;
  return LOW + slot * span;
}

/** Poll `check` until it returns true or `ms` pass (there is no event to await across processes). */
export async function until(ms: number, what: string, check: () => Promise<boolean>): Promise<void> {
  await poll(ms, what, async () => ((await check()) ? true : undefined), 200);
}

/** `georeg cluster` as a black box: nats-servers joined by gateways and one node per region, data under `dataDir`. */
export class Cluster {
  stderr = '';
  /** What it printed on stdout up to its ready message. */
  stdout = '';
  /** Processes freeze() stopped and thaw() has not resumed: stop() resumes them, as does the test runner's exit. */
  readonly #frozen = new Set<number>();

  private constructor(
    readonly process: ChildProcess,
    readonly regions: ClusterRegion[],
  ) {}

  static async start(dataDir: string, regions = ['eu', 'us', 'ap'], extraArgs: string[] = []): Promise<Cluster> {
    const base = await freePortBase(regions.length * 10 + 1); // and the storage emulator of --storage azure|s3 after them
    const child = spawn(
      process.execPath,
      [cliMain, 'cluster', '--regions', regions.join(','), '--data', dataDir, '--port-base', String(base), ...extraArgs],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, GEOREG_LOG_ACCESS: 'false' },
        // Its own process group: stop() can reach the nats-servers and nodes it starts.
        detached: true,
      },
    );
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
        if (/cluster ready[^]*stops the cluster/.test(out)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`georeg cluster exited with ${code}:\n${stderr.slice(-3000)}`)));
    });
    const info = JSON.parse(await readFile(join(dataDir, 'cluster.json'), 'utf8')) as { regions: ClusterRegion[] };
    const cluster = new Cluster(child, info.regions);
    cluster.stderr = stderr;
    cluster.stdout = out;
    child.stderr?.on('data', (c: Buffer) => (cluster.stderr += c.toString()));
    return cluster;
  }

  region(name: string): ClusterRegion {
    const r = this.regions.find((x) => x.name === name);
    if (!r) throw new Error(`no region ${name}`);
    return r;
  }

  /** The pid of region `name`'s nats-server or node (found by its config file or data directory in its argv). */
  async pid(name: string, kind: 'nats' | 'node'): Promise<number> {
    const suffix = join(name, kind === 'nats' ? 'nats.conf' : 'registry');
    const p = (await processesUnder(this.process.pid as number)).find(({ argv }) => argv.some((a) => a.endsWith(suffix)));
    if (!p) throw new Error(`no process of the cluster has an argument ending in ${suffix}`);
    return p.pid;
  }

  /** SIGSTOP a process of the cluster: it hangs, as a region cut off by the network does (connections open, no answer). */
  freeze(pid: number): void {
    if (this.#frozen.size === 0) process.once('exit', this.#thawAll);
    this.#frozen.add(pid);
    process.kill(pid, 'SIGSTOP');
  }

  /** SIGCONT what freeze() stopped. */
  thaw(pid: number): void {
    this.#frozen.delete(pid);
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // gone already
    }
  }

  readonly #thawAll = (): void => {
    for (const pid of this.#frozen) this.thaw(pid);
  };

  /**
   * SIGTERM `georeg cluster` (it stops its nodes, then its nats-servers) and
   * wait; after `graceMs`, SIGKILL its whole process group, so nothing is left
   * running or holding the test runner's pipes open.
   */
  async stop(graceMs = 30_000): Promise<void> {
    this.#thawAll();
    process.off('exit', this.#thawAll);
    const child = this.process;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((res) => child.once('exit', () => res()));
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const late = await Promise.race([
        exited.then(() => false),
        new Promise<boolean>((res) => (timer = setTimeout(() => res(true), graceMs))),
      ]);
      clearTimeout(timer);
      if (!late) return;
      console.error(
        `      georeg cluster did not stop within ${graceMs} ms of SIGTERM: killing its process group\n${this.stderr.slice(-2000)}`,
      );
    }
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {
      // the group is gone already
    }
    child.stdout?.destroy();
    child.stderr?.destroy();
  }
}
