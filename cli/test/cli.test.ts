import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as HarnessModule from '../../nodes/test/support/harness.js';
import { defaultConfig, type Config } from 'georeg/nodes';
import { closedPort, pushBlob } from 'georeg/test-support';
import { envWith, expectCleanFailure, georeg, main, STACK } from './support/run.js';

// This file runs as cli/dist/test/cli.test.js: the command is cli/dist/src/main.js, the
// node test helpers are compiled to nodes/dist/test/support/ (imported at run time, by URL).
const support = (file: string): string => new URL(`../../../nodes/dist/test/support/${file}`, import.meta.url).href;
const { startTestNode } = (await import(support('harness.js'))) as typeof HarnessModule;

type LogLine = Record<string, unknown> & { msg?: string };

/** A `georeg serve` child process, with its stderr log lines parsed as they arrive. */
class ServeProcess {
  readonly lines: LogLine[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly waiters = new Set<() => void>();
  private exitCode: number | null | undefined;

  private constructor(readonly child: ChildProcess) {
    let pending = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.stderr += chunk;
      pending += chunk;
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      for (const p of parts) {
        try {
          this.lines.push(JSON.parse(p) as LogLine);
        } catch {
          // not a log line
        }
      }
      this.waiters.forEach((w) => w());
    });
    child.stdout?.resume();
    this.exited = new Promise((resolve) => {
      child.once('exit', (code) => {
        this.exitCode = code;
        this.waiters.forEach((w) => w());
        resolve(code);
      });
    });
  }

  static start(args: string[], env: Record<string, string> = {}): ServeProcess {
    return new ServeProcess(spawn(process.execPath, [main, 'serve', ...args], { env: envWith(env), stdio: ['ignore', 'pipe', 'pipe'] }));
  }

  /** Resolves with the first log line `match` accepts; rejects when the process exits first. */
  waitFor(match: (line: LogLine) => boolean): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.lines.find(match);
        if (found) {
          this.waiters.delete(check);
          resolve(found);
        } else if (this.exitCode !== undefined) {
          this.waiters.delete(check);
          reject(new Error(`georeg serve exited (${this.exitCode}) first; stderr:\n${this.stderr}`));
        }
      };
      this.waiters.add(check);
      check();
    });
  }

  /** The node's base URL, once it logs that it listens. */
  async url(): Promise<string> {
    const line = await this.waitFor((l) => l.msg === 'registry listening');
    return line.url as string;
  }

  async stop(): Promise<number | null> {
    if (this.exitCode === undefined) this.child.kill('SIGTERM');
    return this.exited;
  }
}

function blobPath(dir: string, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(dir, 'blobs', 'sha256', hex.slice(0, 2), hex);
}

describe('cli: georeg', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-cli-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('usage', () => {
    it('--help exits 0 and lists the commands', async () => {
      const run = await georeg(['--help']);
      assert.equal(run.code, 0);
      assert.match(run.stdout, /Usage: georeg <command>/);
      assert.match(run.stdout, /^\s+serve\s+\S/m);
      assert.match(run.stdout, /^\s+gc\s+\S/m);
    });

    it('an unknown command exits 2 with a message', async () => {
      const run = await georeg(['frobnicate']);
      expectCleanFailure(run, 2, /unknown command "frobnicate"/);
      expectCleanFailure(await georeg(['stauts']), 2, /unknown command "stauts" \(did you mean status\?\)/);
    });

    it('an unknown option exits 2 with one line naming the closest known option', async () => {
      expectCleanFailure(
        await georeg(['serve', '--frobnicate']),
        2,
        /^georeg serve: unknown option --frobnicate; --help lists the options$/m,
      );
      const typo = await georeg(['serve', '--lisen', '127.0.0.1:5000']);
      expectCleanFailure(typo, 2, /^georeg serve: unknown option --lisen \(did you mean --listen\?\); --help lists the options$/m);
      assert.equal(typo.stderr.trim().split('\n').length, 1, typo.stderr);
      expectCleanFailure(await georeg(['serve', '--listen']), 2, /^georeg serve: --listen needs a value/m);
    });

    it('serve --help and gc --help describe their options', async () => {
      const serve = await georeg(['serve', '--help']);
      assert.equal(serve.code, 0);
      assert.match(serve.stdout, /Usage: georeg serve/);
      for (const opt of ['--listen', '--data', '--config', '--print-config']) assert.ok(serve.stdout.includes(opt), opt);
      const gc = await georeg(['gc', '--help']);
      assert.equal(gc.code, 0);
      assert.match(gc.stdout, /Usage: georeg gc/);
      for (const opt of ['--dry-run', '--url', '--data']) assert.ok(gc.stdout.includes(opt), opt);
    });
  });

  describe('serve --print-config', () => {
    async function printConfig(args: string[] = [], env: Record<string, string> = {}): Promise<Config> {
      const run = await georeg(['serve', '--print-config', ...args], env);
      assert.equal(run.code, 0, run.stderr);
      return JSON.parse(run.stdout) as Config;
    }

    it('prints the defaults as JSON', async () => {
      const config = await printConfig();
      assert.equal(config.listen, '127.0.0.1:5000');
      assert.equal(config.data, './data');
      assert.deepEqual(config.log, { level: 'info', access: true });
      assert.deepEqual(config.gc, { intervalSeconds: 0, graceSeconds: 3600 });
      assert.deepEqual(config.storage, { driver: 'fs', directIo: true, azure: defaultConfig.storage.azure, s3: defaultConfig.storage.s3 });
      assert.deepEqual(config.meta, { driver: 'level', postgres: defaultConfig.meta.postgres });
    });

    it('honours GEOREG_* variables, flags and a config file, in that order of precedence', async () => {
      assert.equal((await printConfig([], { GEOREG_LOG_LEVEL: 'warn' })).log.level, 'warn');
      assert.equal((await printConfig(['--listen', '0.0.0.0:6001'])).listen, '0.0.0.0:6001');
      assert.equal((await printConfig(['--data', '/srv/georeg'])).data, '/srv/georeg');

      const file = join(dir, 'georeg.json');
      await writeFile(file, JSON.stringify({ listen: '127.0.0.1:7000', log: { level: 'debug', access: false }, gc: { graceSeconds: 60 } }));
      const fromFile = await printConfig(['--config', file]);
      assert.equal(fromFile.listen, '127.0.0.1:7000');
      assert.deepEqual(fromFile.log, { level: 'debug', access: false });
      assert.deepEqual(fromFile.gc, { intervalSeconds: 0, graceSeconds: 60 });

      const layered = await printConfig(['--config', file, '--listen', '127.0.0.1:7001'], {
        GEOREG_LOG_LEVEL: 'error',
        GEOREG_GC_GRACE_SECONDS: '5',
      });
      assert.equal(layered.listen, '127.0.0.1:7001'); // flag over file
      assert.equal(layered.log.level, 'error'); // environment over file
      assert.equal(layered.log.access, false); // file over default
      assert.equal(layered.gc.graceSeconds, 5);
    });

    it('shows where the Azure account key is read from, never the key', async () => {
      const keyFile = join(dir, 'azure.key');
      const key = 'c2VjcmV0LWFjY291bnQta2V5LW5ldmVyLXByaW50ZWQ=';
      await writeFile(keyFile, key);
      const run = await georeg(['serve', '--print-config'], {
        GEOREG_STORAGE_DRIVER: 'azure',
        GEOREG_STORAGE_AZURE_URL: 'https://acct.blob.core.windows.net',
        GEOREG_STORAGE_AZURE_ACCOUNT_NAME: 'acct',
        GEOREG_STORAGE_AZURE_ACCOUNT_KEY_FILE: keyFile,
      });
      assert.equal(run.code, 0, run.stderr);
      assert.equal((JSON.parse(run.stdout) as Config).storage.azure.accountKeyFile, keyFile);
      assert.ok(!run.stdout.includes(key) && !run.stderr.includes(key));
    });

    it('shows the PostgreSQL connection string without its password', async () => {
      const run = await georeg(['serve', '--print-config'], {
        GEOREG_META_DRIVER: 'postgres',
        GEOREG_META_POSTGRES_URL: 'postgres://georeg:never-printed@db.internal/registry',
      });
      assert.equal(run.code, 0, run.stderr);
      assert.equal((JSON.parse(run.stdout) as Config).meta.postgres.url, 'postgres://georeg:***@db.internal/registry');
      assert.ok(!run.stdout.includes('never-printed') && !run.stderr.includes('never-printed'));
    });

    it('rejects an unknown config key with a message naming it', async () => {
      const file = join(dir, 'bad.json');
      await writeFile(file, JSON.stringify({ log: { level: 'info', colour: true } }));
      expectCleanFailure(await georeg(['serve', '--print-config', '--config', file]), 2, /^georeg serve: .*log\.colour/m);
      await writeFile(file, JSON.stringify({ frobnicate: 1 }));
      expectCleanFailure(await georeg(['serve', '--config', file]), 2, /^georeg serve: .*frobnicate/m);
    });

    it('rejects a config file that is missing or not JSON', async () => {
      expectCleanFailure(await georeg(['serve', '--print-config', '--config', join(dir, 'absent.json')]), 2, /absent\.json/);
      const file = join(dir, 'broken.json');
      await writeFile(file, '{ "listen": ');
      expectCleanFailure(await georeg(['serve', '--print-config', '--config', file]), 2, /broken\.json/);
    });

    it('rejects a bad environment value with a message naming the setting', async () => {
      expectCleanFailure(
        await georeg(['serve', '--print-config'], { GEOREG_GC_GRACE_SECONDS: 'soon' }),
        2,
        /^georeg serve: GEOREG_GC_GRACE_SECONDS: gc\.graceSeconds must be/m,
      );
      expectCleanFailure(
        await georeg(['serve', '--print-config'], { GEOREG_LOG_LEVEL: 'loud' }),
        2,
        /GEOREG_LOG_LEVEL: log\.level must be one of/,
      );
      expectCleanFailure(await georeg(['serve', '--print-config'], { GEOREG_LOG_ACCESS: 'maybe' }), 2, /GEOREG_LOG_ACCESS: log\.access/);
      expectCleanFailure(await georeg(['serve', '--print-config', '--listen', 'nowhere']), 2, /listen must be HOST:PORT/);
    });
  });

  describe('serve', () => {
    let blocker: Server | undefined;
    afterEach(async () => {
      if (blocker) await new Promise<void>((resolve) => blocker?.close(() => resolve()));
      blocker = undefined;
    });

    it('exits 1 with a clear message when the port is taken', async () => {
      blocker = createServer();
      await new Promise<void>((resolve) => blocker?.listen(0, '127.0.0.1', resolve));
      const { port } = blocker.address() as { port: number };
      const run = await georeg(['serve', '--listen', `127.0.0.1:${port}`, '--data', dir]);
      expectCleanFailure(run, 1, new RegExp(`^georeg serve: cannot listen on 127\\.0\\.0\\.1:${port}: address already in use`, 'm'));
    });

    it('starts, answers GET /v2/, and exits 0 on SIGTERM', async () => {
      const serve = ServeProcess.start(['--listen', '127.0.0.1:0', '--data', dir]);
      try {
        const url = await serve.url();
        assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
        const res = await fetch(`${url}/v2/`);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
        await res.arrayBuffer();
        await serve.waitFor((l) => l.msg === 'request' && l.path === '/v2/'); // the access log is on by default
      } finally {
        assert.equal(await serve.stop(), 0, serve.stderr);
      }
      assert.ok(serve.lines.some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM'));
      assert.doesNotMatch(serve.stderr, STACK);
    });

    it('exits 2, serving nothing, when its replication settings are wrong (half a TLS configuration)', async () => {
      const run = await georeg(['serve', '--listen', '127.0.0.1:0', '--data', dir], {
        GEOREG_REPLICATION_LISTEN: '127.0.0.1:0',
        GEOREG_REPLICATION_TLS_CA: join(dir, 'ca.pem'),
      });
      expectCleanFailure(run, 2, /^georeg serve: .*tls/im);
    });

    it('exits 1 with a clear message when another node holds the data directory', async () => {
      const first = ServeProcess.start(['--listen', '127.0.0.1:0', '--data', dir], { GEOREG_LOG_ACCESS: 'false' });
      try {
        await first.url();
        const second = await georeg(['serve', '--listen', '127.0.0.1:0', '--data', dir]);
        expectCleanFailure(second, 1, /^georeg serve: cannot open .*in use/m);
      } finally {
        assert.equal(await first.stop(), 0, first.stderr);
      }
    });
  });

  describe('gc', () => {
    /** A data directory holding one blob nobody references (pushed by an in-process node, now closed). */
    async function withOrphan(): Promise<{ digest: string; size: number }> {
      const node = await startTestNode({ gc: { graceSeconds: 0 } }, dir);
      try {
        const data = `orphan-${randomBytes(8).toString('hex')}`;
        const digest = await pushBlob(node.url, 'cli/gc', data);
        return { digest, size: data.length };
      } finally {
        await node.close();
      }
    }
    const noGrace = { GEOREG_GC_GRACE_SECONDS: '0' };

    it('--dry-run on a data directory lists the unreferenced blob and deletes nothing; gc then deletes it', async () => {
      const { digest, size } = await withOrphan();
      assert.ok(existsSync(blobPath(dir, digest)));

      const dry = await georeg(['gc', '--dry-run', '--data', dir], noGrace);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, new RegExp(`^would delete ${digest}$`, 'm'));
      assert.match(dry.stdout, new RegExp(`would delete 1 blobs, ${size} B freed`));
      assert.ok(existsSync(blobPath(dir, digest)), 'a dry run deleted the blob');
      const json = await georeg(['gc', '--dry-run', '--json', '--data', dir], noGrace);
      assert.deepEqual((JSON.parse(json.stdout) as { blobsDeleted: string[] }).blobsDeleted, [digest], '--json: the report');

      // With the default grace period (1 h) the fresh blob stays.
      const graced = await georeg(['gc', '--data', dir]);
      assert.equal(graced.code, 0, graced.stderr);
      assert.doesNotMatch(graced.stdout, /sha256:/);
      assert.ok(existsSync(blobPath(dir, digest)));

      const real = await georeg(['gc', '--data', dir], noGrace);
      assert.equal(real.code, 0, real.stderr);
      assert.match(real.stdout, new RegExp(`^deleted ${digest}$`, 'm'));
      assert.match(real.stdout, new RegExp(`deleted 1 blobs, ${size} B freed; 1 stale links`));
      assert.ok(!existsSync(blobPath(dir, digest)), 'gc left the blob');

      const again = await georeg(['gc', '--dry-run', '--data', dir], noGrace);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /would delete 0 blobs, 0 B freed/);
    });

    it('asks the node that holds the data directory, then deletes through it', async () => {
      const { digest, size } = await withOrphan();
      const serve = ServeProcess.start(['--listen', '127.0.0.1:0', '--data', dir], noGrace);
      try {
        const url = await serve.url();
        const listen = url.replace(/^http:\/\//, '');

        const dry = await georeg(['gc', '--dry-run', '--data', dir, '--listen', listen]);
        assert.equal(dry.code, 0, dry.stderr);
        assert.match(dry.stdout, new RegExp(`^would delete ${digest}$`, 'm'));
        assert.match(dry.stdout, new RegExp(`would delete 1 blobs, ${size} B freed`));
        await serve.waitFor((l) => l.msg === 'gc finished' && l.dryRun === true);
        assert.ok(existsSync(blobPath(dir, digest)));
        const pulled = await fetch(`${url}/v2/cli/gc/blobs/${digest}`);
        assert.equal(pulled.status, 200);
        await pulled.arrayBuffer();

        const real = await georeg(['gc', '--data', dir, '--listen', listen]);
        assert.equal(real.code, 0, real.stderr);
        assert.match(real.stdout, new RegExp(`^deleted ${digest}$`, 'm'));
        await serve.waitFor((l) => l.msg === 'gc finished' && l.dryRun === false);
        assert.ok(!existsSync(blobPath(dir, digest)));
        const gone = await fetch(`${url}/v2/cli/gc/blobs/${digest}`);
        assert.equal(gone.status, 404);
        await gone.arrayBuffer();
      } finally {
        assert.equal(await serve.stop(), 0, serve.stderr);
      }
    });

    it('--url asks that node directly', async () => {
      const { digest } = await withOrphan();
      const serve = ServeProcess.start(['--listen', '127.0.0.1:0', '--data', dir], noGrace);
      try {
        const url = await serve.url();
        const dry = await georeg(['gc', '--dry-run', '--url', url]);
        assert.equal(dry.code, 0, dry.stderr);
        assert.match(dry.stdout, new RegExp(`^would delete ${digest}$`, 'm'));
      } finally {
        assert.equal(await serve.stop(), 0, serve.stderr);
      }
    });

    it('fails with a clear message when the data directory is held but no node answers at the address', async () => {
      const serve = ServeProcess.start(['--listen', '127.0.0.1:0', '--data', dir], { GEOREG_LOG_ACCESS: 'false' });
      try {
        await serve.url();
        const port = await closedPort();
        const run = await georeg(['gc', '--dry-run', '--data', dir, '--listen', `127.0.0.1:${port}`]);
        assert.notEqual(run.code, 0);
        assert.match(run.stderr, new RegExp(`^georeg gc: .*in use.*no node answers at http://127\\.0\\.0\\.1:${port}`, 'm'));
        assert.doesNotMatch(run.stderr, STACK);
      } finally {
        assert.equal(await serve.stop(), 0, serve.stderr);
      }
    });
  });
});
