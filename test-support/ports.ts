/**
 * Servers that choose their own port: they bind port 0 (nats-server: -1) and report the port they
 * got, in a log line or a ports file. No port is probed, freed and hoped to be free still when the
 * server binds it (another process may take it meanwhile).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { basename, join } from 'node:path';

export const NATS_SERVER = '/usr/sbin/nats-server';

/** The URL `georeg serve` logged it listens on (its JSON log line "registry listening"), once `log` holds that line. */
export function listeningUrl(log: string): string | undefined {
  for (const line of log.split('\n')) {
    if (!line.includes('"msg":"registry listening"')) continue;
    try {
      const url = (JSON.parse(line) as { url?: unknown }).url;
      if (typeof url === 'string') return url;
    } catch {
      // a partial line: not yet
    }
  }
  return undefined;
}

/**
 * A port nothing listens on just now (bound on 127.0.0.1, then freed), for "cannot be reached"
 * tests; not port 1, which fetch refuses before connecting ("bad port"). Never a port for a
 * server to bind: by then it may be another process's.
 */
export function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/** The port of a URL (`http://127.0.0.1:41234` → 41234). */
export function portOf(url: string): number {
  return Number(new URL(url).port);
}

export interface NatsServerProcess {
  child: ChildProcess;
  /** The client port it listens on. */
  port: number;
  /** The HTTP monitoring port, when asked for (-m). */
  monitorPort?: number;
  /** What it wrote to stderr so far. */
  log(): string;
}

/**
 * Start nats-server with `args` (`-p -1`, `-m -1`: ports of its choosing), writing its ports file
 * into `portsDir` (--ports_file_dir, as nats.js's test launcher does); resolves once it is ready,
 * with the ports read from that file. Rejects, with its log, if it exits first.
 */
export async function startNatsServer(args: string[], portsDir: string, binary = NATS_SERVER): Promise<NatsServerProcess> {
  const child = spawn(binary, [...args, '--ports_file_dir', portsDir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      log += chunk;
      if (log.includes('Server is ready')) resolve();
    });
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      reject(new Error(`nats-server exited with ${code ?? signal} before it was ready: ${log.slice(-2000)}`)),
    );
  });
  // Written as it starts: `<executable>_<pid>.ports`, JSON like {"nats":["nats://127.0.0.1:4222"],"monitoring":["http://127.0.0.1:8222"]}.
  const file = join(portsDir, `${basename(binary)}_${child.pid}.ports`);
  const deadline = Date.now() + 10_000;
  let ports: { nats?: string[]; monitoring?: string[] } | undefined;
  while (!ports) {
    try {
      ports = JSON.parse(await readFile(file, 'utf8')) as typeof ports;
    } catch (e) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`nats-server wrote no ports file ${file}: ${(e as Error).message}\n${log.slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const port = (url: string | undefined): number | undefined => (url === undefined ? undefined : portOf(url));
  const client = port(ports?.nats?.[0]);
  if (client === undefined) throw new Error(`nats-server's ports file ${file} names no client port`);
  return { child, port: client, monitorPort: port(ports?.monitoring?.[0]), log: () => log };
}
