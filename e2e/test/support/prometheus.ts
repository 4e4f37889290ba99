/**
 * The real Prometheus (Debian's /usr/bin/prometheus) for the e2e tests, on a port of its choosing,
 * over the files `georeg cluster` writes (DATA/prometheus: the committed prometheus.yml and
 * alerts.yml, and a targets file) with the scrape and evaluation intervals and the alerts' `for:`
 * shortened; nothing else may differ (checked).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { until } from './cluster.js';

const PROMETHEUS = process.env.GEOREG_PROMETHEUS ?? '/usr/bin/prometheus';
const FAST_INTERVAL = '1s';
const FAST_FOR = '2s';

/** fetch with a deadline: nothing here may wait forever on a node that stopped answering. */
export const http = (url: string, init: RequestInit = {}): Promise<Response> =>
  fetch(url, { signal: AbortSignal.timeout(30_000), ...init });

/** The config with shorter intervals; every other line as committed. */
function fastConfig(yml: string): string {
  return yml.replace(/^(\s*(?:scrape|evaluation)_interval:[ \t]*)\S+/gm, `$1${FAST_INTERVAL}`);
}

/** The rules with shorter `for:`; every other line (the expressions above all) as committed. */
function fastRules(yml: string): string {
  return yml.replace(/^(\s*for:[ \t]*)\S+/gm, `$1${FAST_FOR}`);
}

/** Throws unless `after` differs from `before` only in lines that `allowed` accepts (and in at least one). */
function assertOnlyChanged(before: string, after: string, allowed: RegExp, what: string): void {
  const a = before.split('\n');
  const b = after.split('\n');
  assert.equal(b.length, a.length, `${what}: line count changed`);
  const changed = a.map((line, i) => [line, b[i] as string] as const).filter(([x, y]) => x !== y);
  assert.ok(changed.length > 0, `${what}: nothing was shortened`);
  for (const [x, y] of changed) assert.match(y, allowed, `${what}: unexpected change ${JSON.stringify(x)} -> ${JSON.stringify(y)}`);
}

export class Prometheus {
  stderr = '';
  /** Its base URL, once it listens. */
  url = '';
  private constructor(readonly child: ChildProcess) {}

  /** Start over a copy of `written` (what georeg cluster wrote) in `into`, sped up; data in `dataDir`. */
  static async fromCluster(written: string, into: string, dataDir: string): Promise<Prometheus> {
    await cp(written, into, { recursive: true });
    const config = await readFile(join(into, 'prometheus.yml'), 'utf8');
    const rules = await readFile(join(into, 'alerts.yml'), 'utf8');
    const fastC = fastConfig(config);
    const fastR = fastRules(rules);
    assertOnlyChanged(config, fastC, new RegExp(`^\\s*(?:scrape|evaluation)_interval: ${FAST_INTERVAL}$`), 'prometheus.yml');
    assertOnlyChanged(rules, fastR, new RegExp(`^\\s*for: ${FAST_FOR}$`), 'alerts.yml');
    await writeFile(join(into, 'prometheus.yml'), fastC);
    await writeFile(join(into, 'alerts.yml'), fastR);
    return Prometheus.start(join(into, 'prometheus.yml'), dataDir);
  }

  /** Start on a port of its choosing (it logs `msg="Listening on" address=...`); resolves once /-/ready answers 200 (stops it and throws otherwise). */
  static async start(configFile: string, dataDir: string): Promise<Prometheus> {
    const child = spawn(
      PROMETHEUS,
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${dataDir}`,
        '--web.listen-address=127.0.0.1:0',
        '--web.enable-lifecycle',
        '--log.level=info',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const p = new Prometheus(child);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (c: string) => {
      p.stderr = (p.stderr + c).slice(-200_000);
      const address = p.url ? undefined : /msg="Listening on" address=(127\.0\.0\.1:[1-9]\d*)/.exec(p.stderr)?.[1];
      if (address) p.url = `http://${address}`;
    });
    try {
      await until(30_000, 'prometheus to be ready', async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}`);
        if (!p.url) return false;
        return http(`${p.url}/-/ready`, { signal: AbortSignal.timeout(2_000) }).then(
          (r) => r.status === 200,
          () => false,
        );
      });
    } catch (err) {
      await p.stop();
      throw new Error(`${(err as Error).message}:\n${p.stderr.slice(-3000)}`, { cause: err });
    }
    return p;
  }

  async api<T>(
    path: string,
    params: Record<string, string> = {},
  ): Promise<{ status: string; data: T; error?: string; errorType?: string }> {
    const res = await http(`${this.url}/api/v1/${path}?${new URLSearchParams(params).toString()}`);
    return (await res.json()) as { status: string; data: T; error?: string; errorType?: string };
  }

  /** An instant query; throws with Prometheus' message when it does not parse or fails. */
  async query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const r = await this.api<{ resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] }>('query', {
      query: expr,
    });
    if (r.status !== 'success') throw new Error(`${expr}: ${r.errorType}: ${r.error}`);
    assert.equal(r.data.resultType, 'vector', expr);
    return r.data.result;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((res) => child.once('exit', () => res()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

export interface ActiveAlert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}
