import { apiPaths } from 'georeg/oci';
import type { ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError, parseOptions, type Command } from '../command.js';
import { natsConfig } from '../cluster/nats-config.js';
import { regionDatabase } from '../cluster/region-databases.js';
import { regionNodes, scaleOut, type RegionNode } from '../cluster/region-nodes.js';
import { sharedStorage } from '../cluster/shared-storage.js';
import { DEFAULT_REGIONS, localTopology, nodeEnv, type RegionPorts } from '../cluster/topology.js';
import { writePrometheusFiles } from '../cluster/prometheus-files.js';
import { secureCluster } from '../cluster/secure.js';
import { describeExit, Supervisor } from '../cluster/supervisor.js';
import { RegistryClient } from '../registry-client.js';

const NATS_SERVER = process.env.GEOREG_NATS_SERVER ?? '/usr/sbin/nats-server';
const MAIN = fileURLToPath(new URL('../main.js', import.meta.url));

const help = `Usage: georeg cluster [--regions eu,us,ap] [--data DIR] [--port-base N] [--secure] [--separate-replicators]
                     [--nodes-per-region N --storage fs|azure|s3 --meta level|postgres [--postgres URL]]

Runs a local multi-region cluster in the foreground: per region a nats-server with
JetStream (the regions joined by gateways) and a georeg node that serves its
content to the other regions and replicates theirs. Ports are counted from N: region
i uses N+10i (registry), +1 (replication), +2 (NATS), +3 (gateway), +4 (route).
Once every region answers, DIR/cluster.json lists them. From then on a process
that dies (a nats-server, a node, a replicate process) is reported on stderr
(region, process, exit code or signal) and started again with the same
arguments after a short backoff (0.5 s, doubling up to 10 s while it keeps
dying), and the other regions go on serving. Only Ctrl-C (SIGINT) or SIGTERM
stops the whole cluster.

Options:
  --regions LIST   region ids (default eu,us,ap)
  --data DIR       state of every region (default ./cluster-data)
  --port-base N    first port (default 7000)
  --secure         throwaway secrets in DIR: nodes serve HTTPS (CA DIR/certs/ca.pem) with
                   authentication on (user admin, password GEOREG_ADMIN_PASSWORD or the
                   generated DIR/admin-password; one token signing key for all regions),
                   regions replicate over mutual TLS, NATS requires a password
  --separate-replicators
                   replication runs in a \`georeg replicate\` process beside each node
                   (replication.external) instead of inside it
  --storage KIND   where the nodes keep blobs: fs (default; under DIR/<region>/registry), azure
                   (Azurite, the Azure Storage emulator, a container per region) or s3 (s3rver,
                   a key prefix per region); the emulator runs once for the cluster on port
                   N+10*regions, its data in DIR (npm devDependencies: a checkout's npm ci)
  --meta KIND      where the nodes keep metadata: level (default; LevelDB, one process) or
                   postgres (a database per region, georeg_<region>_<hash of DIR>, created when
                   absent and reused by a restart on DIR; drop them with dropdb when done)
  --postgres URL   the PostgreSQL server those databases are made on, by a role that may create
                   databases (default postgres://postgres@127.0.0.1:5432/postgres)
  --nodes-per-region N
                   1 to 3 georeg nodes per region (default 1). Above 1 needs --meta postgres:
                   the nodes of a region share its database and its storage, serve HTTP on
                   +5, +6, +7 and replication on +1, +8, +9 of the region's ports, and a
                   \`georeg front\` on the region's registry port sends requests to them in turn
                   (it is the region's URL and publicUrl). The other regions replicate from the
                   first node. With --storage fs every node of a region uses one directory,
                   which holds on one machine: blobs and committed uploads appear by atomic
                   rename, an upload is only appended to, and a node rehashes an upload another
                   node appended to. Not with --secure or --separate-replicators.`;

/** A signal came while the cluster was starting. */
class Interrupted extends Error {}

interface Region {
  name: string;
  ports: RegionPorts;
  dir: string;
  nodes: RegionNode[];
}

/** Resolve once a line of the child's stderr (or its stdout, where it is piped) matches `ready`; reject if it exits first. */
function whenReady(child: ChildProcess, name: string, ready: RegExp): Promise<ChildProcess> {
  return new Promise((resolveStart, reject) => {
    const buffered = { stdout: '', stderr: '' };
    const outputs = (['stdout', 'stderr'] as const).map((stream) => {
      const onData = (chunk: string): void => {
        buffered[stream] += chunk;
        if (!ready.test(buffered[stream])) return;
        for (const [s, listener] of outputs) child[s]?.off('data', listener);
        resolveStart(child);
      };
      child[stream]?.on('data', onData);
      return [stream, onData] as const;
    });
    child.once('error', (e) => reject(new CliError(`${name}: cannot start: ${e.message}`)));
    child.once('exit', (code, signal) => reject(new CliError(`${name} ${describeExit(code, signal)} before it was ready`)));
  });
}

/** What the ready line says: every region's registry and status page, its NATS log, the secure cluster's secrets, how to stop. */
function readyText(
  m: {
    regions: { name: string; registry: string; nodes?: string[] }[];
    ca?: string;
    admin?: { user: string; passwordFile: string };
    prometheus: string;
  },
  data: string,
): string {
  const width = Math.max(...m.regions.map((r) => r.name.length));
  return [
    `cluster ready (data in ${data}, described in ${join(data, 'cluster.json')}):`,
    ...m.regions.flatMap((r) => [
      `  ${r.name.padEnd(width)}  ${r.registry}  status page ${r.registry}${apiPaths.ui()}  NATS log ${join(data, r.name, 'nats.log')}`,
      ...(r.nodes ? [`  ${''.padEnd(width)}  a front over the nodes ${r.nodes.join(', ')}`] : []),
    ]),
    ...(m.admin && m.ca
      ? [
          `  user ${m.admin.user}, its password in ${m.admin.passwordFile}; the CA to trust: ${m.ca} (--ca, or skopeo --cert-dir with it as ca.crt)`,
        ]
      : []),
    `  Prometheus for it: prometheus --config.file=${m.prometheus}`,
    'Ctrl-C (or SIGTERM) stops the cluster; a process that dies is restarted.',
    '',
  ].join('\n');
}

/**
 * Resolves when the region's node reports `peers` replication peers (with
 * `up`: each seen up, which needs a separate replicator's first report);
 * rejects if the process watched exits first.
 */
async function replicating(r: Region, base: string, peers: number, child: ChildProcess, ca?: Buffer, up = false): Promise<void> {
  // HTTPS trusting the cluster's CA; each probe gives up after 2 s.
  const node = new RegistryClient(base, { ...(ca && { ca }), timeoutMs: 2000 });
  for (;;) {
    if (child.pid === undefined) throw new CliError(`${r.name} could not be started`);
    // A child killed by a signal (the OOM killer, say) has a signalCode and no exitCode.
    if (child.exitCode !== null || child.signalCode !== null)
      throw new CliError(`${r.name} ${describeExit(child.exitCode, child.signalCode)} before it was ready`);
    const status = await node.getJson<{ peers: { up: boolean }[] }>(apiPaths.replication());
    if (status && status.peers.length === peers && (!up || status.peers.every((p) => p.up))) return;
    await new Promise((res) => setTimeout(res, 100));
  }
}

export const clusterCommand: Command = {
  name: 'cluster',
  summary: 'run a local multi-region cluster (nats-server + node per region) in the foreground',
  async run(argv) {
    const { values } = parseOptions(argv, {
      regions: { type: 'string' },
      data: { type: 'string' },
      'port-base': { type: 'string' },
      secure: { type: 'boolean' },
      'separate-replicators': { type: 'boolean' },
      'nodes-per-region': { type: 'string' },
      storage: { type: 'string' },
      meta: { type: 'string' },
      postgres: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      process.stdout.write(help + '\n');
      return 0;
    }
    const names = (values.regions ?? DEFAULT_REGIONS.join(',')).split(',').map((r) => r.trim());
    if (names.length < 1 || names.some((r) => !/^[a-z0-9][a-z0-9-]{0,30}$/.test(r)) || new Set(names).size !== names.length) {
      throw new CliError('--regions takes distinct region ids of [a-z0-9-], e.g. eu,us,ap');
    }
    const scale = scaleOut(values);
    const base = Number(values['port-base'] ?? 7000);
    if (!Number.isInteger(base) || base < 1024 || base + names.length * 10 >= 65535)
      throw new CliError('--port-base must leave room for 10 ports per region and one more below 65536');
    const data = resolve(values.data ?? './cluster-data');
    const topology = localTopology(names, base, (region) => join(data, region, 'nats'));
    const regions: Region[] = names.map((name) => {
      const dir = join(data, name);
      return { name, ports: topology.ports(name), dir, nodes: regionNodes(topology, name, dir, scale) };
    });

    // Stopped last started first: nodes (they flush their outboxes as far as they can), then NATS.
    const processes = new Supervisor();
    const signalled = new Promise<string>((res) => {
      process.once('SIGINT', () => res('SIGINT'));
      process.once('SIGTERM', () => res('SIGTERM'));
    });
    // A signal while the cluster is still starting stops it then, not once it is ready.
    const untilSignal = <T>(step: Promise<T>): Promise<T> => {
      const interrupted = signalled.then((why): never => {
        throw new Interrupted(why);
      });
      // Whichever loses the race settles later, unobserved: neither may be an unhandled rejection.
      interrupted.catch(() => undefined);
      step.catch(() => undefined);
      return Promise.race([step, interrupted]);
    };
    try {
      await mkdir(data, { recursive: true });
      const secure = values.secure ? await secureCluster(data) : undefined;
      const scheme = secure ? 'https' : 'http';
      for (const r of regions) {
        await mkdir(join(r.dir, 'nats'), { recursive: true });
        const conf = join(r.dir, 'nats.conf');
        await writeFile(conf, `# generated by georeg cluster\n${natsConfig(topology, r.name, secure?.nats)}`, { mode: 0o600 });
        const nats = processes.spawn({
          region: r.name,
          kind: 'nats-server',
          label: `nats-${r.name}`,
          cmd: NATS_SERVER,
          args: ['-c', conf],
          env: process.env,
          logFile: join(r.dir, 'nats.log'),
        });
        await untilSignal(whenReady(nats, `nats-${r.name}`, /Server is ready/));
      }
      const storage = await sharedStorage(scale.storage, data, base + names.length * 10);
      if (storage.emulator) {
        const { spec, ready } = storage.emulator;
        await untilSignal(whenReady(processes.spawn(spec), spec.label, ready));
      }
      const registry = (r: Region): string => `${scheme}://127.0.0.1:${r.ports.registry}`;
      const nodeUrl = (n: RegionNode): string => `${scheme}://127.0.0.1:${n.http}`;
      const separate = values['separate-replicators'] === true;
      const envs: NodeJS.ProcessEnv[] = [];
      const nodes: { r: Region; n: RegionNode; child: ChildProcess }[] = [];
      for (const r of regions) {
        const meta = scale.meta === 'postgres' && {
          GEOREG_META_DRIVER: 'postgres',
          GEOREG_META_POSTGRES_URL_FILE: await untilSignal(regionDatabase(scale.postgres, data, r.name, join(r.dir, 'pg-url'))),
        };
        const env = {
          ...process.env,
          ...secure?.env,
          ...nodeEnv(topology, r.name),
          ...storage.env(r.name),
          ...meta,
          GEOREG_PUBLIC_URL: registry(r),
          ...(separate && { GEOREG_REPLICATION_EXTERNAL: 'true' }),
        };
        envs.push(env);
        for (const n of r.nodes) {
          const args = [MAIN, 'serve', '--listen', `127.0.0.1:${n.http}`, '--data', n.data];
          const own = { ...env, GEOREG_REPLICATION_LISTEN: `127.0.0.1:${n.replication}` };
          const child = processes.spawn({ region: r.name, kind: 'node', label: n.label, cmd: process.execPath, args, env: own });
          nodes.push({ r, n, child });
        }
      }
      // Ready once every node answers with its replicator attached (independent of the log level).
      await untilSignal(Promise.all(nodes.map(({ r, n, child }) => replicating(r, nodeUrl(n), regions.length - 1, child, secure?.ca))));
      for (const r of regions.filter((x) => x.nodes.length > 1)) {
        const args = [
          MAIN,
          'front',
          '--listen',
          `127.0.0.1:${r.ports.registry}`,
          ...r.nodes.flatMap((n) => ['--node', `127.0.0.1:${n.http}`]),
        ];
        const front = processes.spawn({
          region: r.name,
          kind: 'front',
          label: `${r.name}-front`,
          cmd: process.execPath,
          args,
          env: process.env,
        });
        await untilSignal(whenReady(front, `${r.name}-front`, /"front listening"/));
      }
      if (separate) {
        const replicators = regions.map((r, i) =>
          processes.spawn({
            region: r.name,
            kind: 'replicate',
            label: `${r.name}-replicate`,
            cmd: process.execPath,
            args: [MAIN, 'replicate', '--data', join(r.dir, 'registry')],
            env: envs[i] as NodeJS.ProcessEnv,
          }),
        );
        await untilSignal(
          Promise.all(
            regions.map((r, i) => replicating(r, registry(r), regions.length - 1, replicators[i] as ChildProcess, secure?.ca, true)),
          ),
        );
      }
      const manifest = {
        regions: regions.map((r) => ({
          name: r.name,
          registry: registry(r),
          replication: `127.0.0.1:${r.ports.replication}`,
          nats: `nats://127.0.0.1:${r.ports.nats}`,
          metrics: `${registry(r)}${apiPaths.metrics()}`,
          ...(r.nodes.length > 1 && { nodes: r.nodes.map(nodeUrl) }),
        })),
        storage: scale.storage,
        meta: scale.meta,
        ...(secure && { ca: secure.caFile, admin: { user: 'admin', passwordFile: secure.adminPasswordFile } }),
      };
      const prometheus = await writePrometheusFiles(join(data, 'prometheus'), manifest.regions, secure?.caFile);
      await writeFile(join(data, 'cluster.json'), JSON.stringify({ ...manifest, prometheus }, null, 2) + '\n');
      process.stdout.write(readyText({ ...manifest, prometheus }, data));
      // From now on a process that dies is reported and restarted; only a signal stops the cluster.
      processes.supervise();
      const why = await signalled;
      process.stderr.write(`georeg cluster: stopping (${why})\n`);
    } catch (e) {
      if (!(e instanceof Interrupted)) throw e;
      process.stderr.write(`georeg cluster: stopping before it was ready (${e.message})\n`);
    } finally {
      await processes.stop();
    }
    return 0;
  },
};
