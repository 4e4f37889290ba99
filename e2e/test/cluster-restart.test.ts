import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiPaths } from 'georeg/oci';
import { pushImage } from 'georeg/test-support';
import { Cluster, processesUnder, until, type ClusterRegion } from './support/cluster.js';

/** Which of a cluster's processes is which kind, told from its command line. */
const KINDS = {
  'nats-server': (argv: string[], region: string) =>
    argv[0]?.endsWith('nats-server') === true && argv.at(-1)?.endsWith(`/${region}/nats.conf`) === true,
  node: (argv: string[], region: string) => argv[2] === 'serve' && argv.at(-1)?.endsWith(`/${region}/registry`) === true,
  replicate: (argv: string[], region: string) => argv[2] === 'replicate' && argv.at(-1)?.endsWith(`/${region}/registry`) === true,
};

describe('georeg cluster: a process killed with SIGKILL is reported and restarted, the rest keep serving (e2e, black box)', function () {
  this.timeout(180_000);
  let dir: string;
  let cluster: Cluster;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-cluster-restart-'));
    cluster = await Cluster.start(join(dir, 'data'), ['eu', 'us', 'ap'], ['--separate-replicators']);
  });

  after(async () => {
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Its pid (argv read from /proc, with the data dir made absolute by `georeg cluster`). */
  async function pidOf(kind: keyof typeof KINDS, region: string): Promise<number | undefined> {
    const found = (await processesUnder(cluster.process.pid as number)).filter((p) => KINDS[kind](p.argv.filter(Boolean), region));
    assert.ok(found.length <= 1, `one ${kind} in ${region}`);
    return found[0]?.pid;
  }

  /** Whether the region's node holds `tag` of `repo` itself (the tag list is never fetched through from a peer). */
  async function holds(r: ClusterRegion, repo: string, tag: string): Promise<boolean> {
    const res = await fetch(`${r.registry}${apiPaths.tags(repo)}`).catch(() => undefined);
    if (res?.status !== 200) return false;
    return ((await res.json()) as { tags: string[] }).tags.includes(tag);
  }

  const cases: { kind: keyof typeof KINDS; region: string; pushTo: string }[] = [
    { kind: 'nats-server', region: 'eu', pushTo: 'us' },
    { kind: 'node', region: 'us', pushTo: 'ap' },
    { kind: 'replicate', region: 'ap', pushTo: 'eu' },
  ];
  for (const { kind, region, pushTo } of cases) {
    it(`${kind} of ${region}: the other regions serve meanwhile, it comes back with the same arguments, and ${region} catches up`, async () => {
      const victim = cluster.region(region);
      const others = cluster.regions.filter((r) => r.name !== region);
      const pid = await pidOf(kind, region);
      assert.ok(pid, `${kind} of ${region} runs`);
      const reported = new RegExp(`region ${region}: ${kind} \\(pid ${pid}\\) killed by SIGKILL after [0-9.]+ s; restarting it`);
      process.kill(pid, 'SIGKILL');
      await until(10_000, `the cluster to report the ${kind}'s death`, async () => reported.test(cluster.stderr));

      // The others serve and take pushes while it is down or coming back.
      const tag = `while-${kind}-down`;
      await pushImage(cluster.region(pushTo).registry, 'restart/app', tag);
      for (const r of others) assert.equal((await fetch(`${r.registry}${apiPaths.base()}`)).status, 200, `${r.name} serves`);

      let again: number | undefined;
      await until(30_000, `${kind} of ${region} to be started again`, async () => {
        again = await pidOf(kind, region);
        return again !== undefined && again !== pid;
      });
      assert.match(cluster.stderr, new RegExp(`region ${region}: ${kind} restarted \\(pid ${again}\\)`));
      // Back in service: the push made meanwhile reaches every region, the one that lost a process too.
      await until(60_000, `${tag} to be replicated into every region`, async () =>
        (await Promise.all(cluster.regions.map((r) => holds(r, 'restart/app', tag)))).every(Boolean),
      );
      assert.equal((await fetch(`${victim.registry}${apiPaths.base()}`)).status, 200);
    });
  }

  it('still stops every process and exits 0 on SIGTERM', async () => {
    const exited = new Promise<number | null>((res) => cluster.process.once('exit', (code) => res(code)));
    cluster.process.kill('SIGTERM');
    assert.equal(await exited, 0, cluster.stderr.slice(-2000));
    assert.deepEqual(await processesUnder(cluster.process.pid as number), []);
  });
});
