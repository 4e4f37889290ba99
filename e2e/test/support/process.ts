/**
 * Spawns built georeg processes for black-box tests. Nothing here imports georeg's sources:
 * the node is `node cli/dist/src/main.js serve`, spoken to over HTTP only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { apiPaths } from 'georeg/oci';
import { portOf } from 'georeg/test-support';

/** Repository root: this file is e2e/dist/test/support/process.js once built. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
export const cliMain = join(repoRoot, 'cli', 'dist', 'src', 'main.js');

/**
 * A port that was free a moment ago (listen on 0, read the port, close): another process may take
 * it before the server that is to use it binds it. Only for a port that must be known before its
 * server starts (replication peers name each other's addresses in their settings); a server that
 * can, binds port 0 and reports what it got (GeoregNode, ServeProcess, startNatsServer).
 */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('no port from listen(0)'));
        return;
      }
      srv.close(() => resolvePort(addr.port));
    });
  });
}

/** One JSON log line of georeg (stderr). */
export interface LogRecord {
  time?: string;
  level?: string;
  msg?: string;
  [field: string]: unknown;
}

export interface StartOptions {
  /** Access log lines on stderr (default true: they are the best diagnostics). */
  accessLog?: boolean;
  /** Extra environment for the node (GEOREG_* overrides). */
  env?: Record<string, string>;
  /** Extra `serve` arguments. */
  args?: string[];
  /** How long to wait for "registry listening" (default 20 s). */
  startTimeoutMs?: number;
  /** A name for messages (default "georeg"). */
  name?: string;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Children still running: killed if the test process exits without stopping them. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export class GeoregNode {
  /** e.g. http://127.0.0.1:41234 (set once it listens) */
  url = '';
  /** e.g. 127.0.0.1:41234 (what skopeo wants) */
  hostPort = '';
  /** The port it chose (it listens on 127.0.0.1:0). */
  port = 0;
  private stderrText = '';
  private stderrDropped = 0;
  private exitInfo: ExitInfo | undefined;
  private readonly exited: Promise<ExitInfo>;

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
    readonly dataDir: string,
  ) {
    live.add(child);
    this.exited = new Promise((res) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        this.exitInfo = { code, signal };
        res(this.exitInfo);
      });
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => this.append(chunk));
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => this.append(chunk));
  }

  /** Start a node on a port of its choosing (127.0.0.1:0) with a fresh temp data dir; resolves once it serves GET /v2/ = 200. */
  static async start(opts: StartOptions = {}): Promise<GeoregNode> {
    if (!existsSync(cliMain)) throw new Error(`${cliMain} not built: run \`npx tsc -b\` first`);
    const dataDir = await mkdtemp(join(tmpdir(), 'georeg-e2e-'));
    const child = spawn(process.execPath, [cliMain, 'serve', '--listen', '127.0.0.1:0', '--data', dataDir, ...(opts.args ?? [])], {
      cwd: repoRoot,
      env: { ...process.env, GEOREG_LOG_ACCESS: opts.accessLog === false ? 'false' : 'true', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const node = new GeoregNode(opts.name ?? 'georeg', child, dataDir);
    try {
      await node.waitListening(opts.startTimeoutMs ?? 20_000);
      await node.checkBase();
      return node;
    } catch (err) {
      await node.stop().catch(() => undefined);
      throw err;
    }
  }

  private append(chunk: string): void {
    this.stderrText += chunk;
    const max = 16 * 1024 * 1024;
    if (this.stderrText.length > max) {
      const cut = this.stderrText.length - max / 2;
      this.stderrDropped += cut;
      this.stderrText = this.stderrText.slice(cut);
      this.scanned = Math.max(0, this.scanned - cut);
    }
    this.emitLines();
  }

  private scanned = 0;
  private readonly lineWaiters = new Set<(rec: LogRecord) => void>();

  private emitLines(): void {
    if (this.lineWaiters.size === 0) {
      const lastNl = this.stderrText.lastIndexOf('\n');
      this.scanned = lastNl + 1;
      return;
    }
    let nl: number;
    while ((nl = this.stderrText.indexOf('\n', this.scanned)) !== -1) {
      const line = this.stderrText.slice(this.scanned, nl);
      this.scanned = nl + 1;
      const rec = parseLine(line);
      if (rec) for (const w of [...this.lineWaiters]) w(rec);
    }
  }

  /** Resolve with the first log record (from now on) that `pred` accepts. */
  waitForLog(pred: (rec: LogRecord) => boolean, timeoutMs: number): Promise<LogRecord> {
    return new Promise((res, reject) => {
      const done = (fn: () => void): void => {
        clearTimeout(timer);
        this.lineWaiters.delete(waiter);
        fn();
      };
      const waiter = (rec: LogRecord): void => {
        if (pred(rec)) done(() => res(rec));
      };
      const timer = setTimeout(
        () => done(() => reject(new Error(`${this.name}: no matching log line within ${timeoutMs} ms\n${this.stderrTail()}`))),
        timeoutMs,
      );
      this.lineWaiters.add(waiter);
      void this.exited.then((info) => {
        if (this.lineWaiters.has(waiter)) {
          done(() =>
            reject(
              new Error(
                `${this.name} exited (code ${info.code}, signal ${info.signal}) before the expected log line\n${this.stderrTail()}`,
              ),
            ),
          );
        }
      });
    });
  }

  /** Waits for the log line that names the address it got. */
  private async waitListening(timeoutMs: number): Promise<void> {
    // The log line may already be in the buffer if the process was very quick.
    const already = this.records().find((r) => r.msg === 'registry listening');
    const rec = already ?? (await this.waitForLog((r) => r.msg === 'registry listening', timeoutMs));
    const url = rec['url'];
    if (typeof url !== 'string' || !/^http:\/\/127\.0\.0\.1:\d+$/.test(url))
      throw new Error(`${this.name}: listening on ${String(url)}, expected http://127.0.0.1:PORT`);
    this.url = url;
    this.hostPort = url.slice('http://'.length);
    this.port = portOf(url);
  }

  private async checkBase(): Promise<void> {
    const res = await fetch(`${this.url}${apiPaths.base()}`, { signal: AbortSignal.timeout(5_000) });
    await res.arrayBuffer();
    // 401 with a token challenge: a node with authentication on, up and answering.
    const challenged = res.status === 401 && (res.headers.get('www-authenticate') ?? '').startsWith('Bearer ');
    if (res.status !== 200 && !challenged) throw new Error(`${this.name}: GET /v2/ -> ${res.status}\n${this.stderrTail()}`);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Everything the process wrote to stderr/stdout (the tail, if it grew past 16 MiB). */
  stderr(): string {
    return this.stderrText;
  }

  stderrTail(lines = 60): string {
    const all = this.stderrText.split('\n');
    const tail = all.slice(-lines - 1).join('\n');
    return `--- ${this.name} stderr (last ${lines} lines${this.stderrDropped > 0 ? ', older output dropped' : ''}) ---\n${tail}`;
  }

  /** A position in the log, for `records(since)`. */
  mark(): number {
    return this.stderrDropped + this.stderrText.length;
  }

  /** Parsed JSON log records, optionally only those written after `mark()`. */
  records(since = 0): LogRecord[] {
    const from = Math.max(0, since - this.stderrDropped);
    return this.stderrText
      .slice(from)
      .split('\n')
      .map(parseLine)
      .filter((r): r is LogRecord => r !== undefined);
  }

  /** Access-log records (msg "request") after `mark()`. */
  requests(since = 0): LogRecord[] {
    return this.records(since).filter((r) => r.msg === 'request');
  }

  /** Access log as short lines "METHOD path -> status", for assertion messages. */
  requestSummary(since = 0): string {
    return this.requests(since)
      .map((r) => `${String(r['method'])} ${String(r['path'])} -> ${String(r['status'])}`)
      .join('\n');
  }

  private syncCounter = 0;

  /**
   * Wait until the access log has caught up: a GET /v2/ with a unique request id, then its log
   * line. Lines of requests that finished earlier are on stderr before it (needs the access log).
   */
  async syncLog(timeoutMs = 5_000): Promise<void> {
    const id = `e2e-sync-${process.pid}-${++this.syncCounter}`;
    const seen = this.waitForLog((r) => r.msg === 'request' && r['reqId'] === id, timeoutMs);
    const res = await fetch(`${this.url}${apiPaths.base()}`, { headers: { 'X-Request-Id': id }, signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    await seen;
  }

  /** SIGTERM, wait for exit (SIGKILL after `graceMs`), remove the data dir. */
  async stop(graceMs = 10_000): Promise<ExitInfo> {
    let info = this.exitInfo;
    if (!info) {
      this.child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const killed = new Promise<'timeout'>((res) => {
        timer = setTimeout(() => res('timeout'), graceMs);
      });
      const r = await Promise.race([this.exited, killed]);
      clearTimeout(timer);
      if (r === 'timeout') {
        this.child.kill('SIGKILL');
        await this.exited;
      }
      info = r === 'timeout' ? { code: null, signal: 'SIGKILL' } : r;
    }
    await rm(this.dataDir, { recursive: true, force: true });
    return info;
  }
}

function parseLine(line: string): LogRecord | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === 'object' && v !== null ? (v as LogRecord) : undefined;
  } catch {
    return undefined;
  }
}
