import { createWriteStream } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';

/** One process of a local cluster: what to run, and which region and kind of process it is (for reports). */
export interface ChildSpec {
  region: string;
  /** What kind of process: `nats-server`, `node`, `replicate`, `front`, `azurite`, `s3rver`. */
  kind: string;
  /** Prefix of its stderr lines, e.g. `nats-eu`. */
  label: string;
  cmd: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Where its stderr and stdout go (appended); without it, stderr to the terminal prefixed with `label`, stdout as it is. */
  logFile?: string;
}

export interface Backoff {
  /** Wait before the first restart. */
  firstMs: number;
  /** Longest wait: each restart of a process that dies again soon doubles the wait up to this. */
  maxMs: number;
  /** A process that ran this long before it died is restarted after `firstMs` again. */
  healthyAfterMs: number;
}

export const DEFAULT_BACKOFF: Backoff = { firstMs: 500, maxMs: 10_000, healthyAfterMs: 30_000 };

/** How a child ended, for people: `killed by SIGKILL` or `exited with code 1`. */
export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exited with code ${code}`;
}

interface Supervised {
  spec: ChildSpec;
  child: ChildProcess;
  startedAt: number;
  /** Wait before the next restart. */
  waitMs: number;
  restart?: NodeJS.Timeout;
}

/**
 * The processes of `georeg cluster`. Each is spawned with its stderr lines prefixed by its
 * label. Until `supervise()`, an exit is only the caller's business (a cluster that cannot start
 * stops); from then on, a process that exits is reported (region, kind, pid, code or signal) and
 * started again with the same command, arguments and environment after a backoff, while the
 * others go on. `stop()` ends restarts and stops every process, the last started first.
 */
export class Supervisor {
  private readonly all: Supervised[] = [];
  private supervising = false;
  private stopping = false;

  constructor(
    private readonly report: (line: string) => void = (line) => process.stderr.write(`georeg cluster: ${line}\n`),
    private readonly backoff: Backoff = DEFAULT_BACKOFF,
  ) {}

  /**
   * Spawn a child. A failed spawn is reported, not thrown as an uncaught 'error' event; the
   * child then has no pid.
   */
  spawn(spec: ChildSpec): ChildProcess {
    const entry: Supervised = { spec, child: this.start(spec), startedAt: Date.now(), waitMs: this.backoff.firstMs };
    this.all.push(entry);
    this.watch(entry);
    return entry.child;
  }

  /** The process running now for each child spawned, in spawn order (a restarted one is its new process). */
  get children(): ChildProcess[] {
    return this.all.map((e) => e.child);
  }

  /** From now on, restart whatever exits. */
  supervise(): void {
    this.supervising = true;
  }

  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    for (const e of this.all) clearTimeout(e.restart);
    for (const e of [...this.all].reverse()) await stopChild(e.child, graceMs);
  }

  private start(spec: ChildSpec): ChildProcess {
    const child = spawn(spec.cmd, spec.args, { env: spec.env, stdio: ['ignore', spec.logFile ? 'pipe' : 'inherit', 'pipe'] });
    child.on('error', (e) => this.report(`${spec.label}: cannot run ${spec.cmd}: ${e.message}`));
    child.stderr?.setEncoding('utf8');
    if (spec.logFile) {
      const file = createWriteStream(spec.logFile, { flags: 'a' });
      file.on('error', (e) => this.report(`${spec.label}: cannot write its log ${spec.logFile}: ${e.message}`));
      child.stdout?.setEncoding('utf8');
      for (const out of [child.stdout, child.stderr]) out?.pipe(file, { end: false });
      child.once('close', () => file.end());
      return child;
    }
    child.stderr?.on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) if (line.trim()) process.stderr.write(`[${spec.label}] ${line}\n`);
    });
    return child;
  }

  private watch(e: Supervised): void {
    e.child.once('exit', (code, signal) => {
      if (this.stopping || !this.supervising) return;
      const ranMs = Date.now() - e.startedAt;
      if (ranMs >= this.backoff.healthyAfterMs) e.waitMs = this.backoff.firstMs;
      const wait = e.waitMs;
      e.waitMs = Math.min(e.waitMs * 2, this.backoff.maxMs);
      this.report(
        `region ${e.spec.region}: ${e.spec.kind} (pid ${e.child.pid}) ${describeExit(code, signal)} after ${(ranMs / 1000).toFixed(1)} s; ` +
          `restarting it in ${(wait / 1000).toFixed(1)} s, the other processes keep running`,
      );
      e.restart = setTimeout(() => {
        if (this.stopping) return;
        e.child = this.start(e.spec);
        e.startedAt = Date.now();
        this.report(`region ${e.spec.region}: ${e.spec.kind} restarted (pid ${e.child.pid})`);
        this.watch(e);
      }, wait);
    });
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child is gone. */
function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  return new Promise((done) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(kill);
      done();
    });
    child.kill('SIGTERM');
  });
}
