import assert from 'node:assert/strict';
import { Supervisor } from '../src/cluster/supervisor.js';

/** A Supervisor with a short backoff whose reports resolve the waiters of `reported(n)`. */
function supervisor(): { processes: Supervisor; lines: string[]; reported: (n: number) => Promise<void> } {
  const lines: string[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const processes = new Supervisor(
    (line) => {
      lines.push(line);
      for (const w of waiters.filter((x) => lines.length >= x.n)) w.resolve();
    },
    { firstMs: 100, maxMs: 400, healthyAfterMs: 60_000 },
  );
  const reported = (n: number): Promise<void> =>
    lines.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }));
  return { processes, lines, reported };
}

const spec = (code: string) => ({
  region: 'eu',
  kind: 'node',
  label: 'eu',
  cmd: process.execPath,
  args: ['-e', code],
  env: process.env,
});

describe('Supervisor (georeg cluster): restarts what dies, with a backoff, until stopped', function () {
  this.timeout(20_000);

  it('reports each exit with its code and restarts the process after 0.1, 0.2, 0.4, 0.4 s while it keeps dying', async () => {
    const { processes, lines, reported } = supervisor();
    processes.supervise();
    processes.spawn(spec('process.exit(3)'));
    await reported(8); // four exits, four restarts
    await processes.stop();
    const exits = lines.filter((l) => l.includes('exited'));
    assert.deepEqual(
      exits.map((l) => /restarting it in ([0-9.]+) s/.exec(l)?.[1]),
      ['0.1', '0.2', '0.4', '0.4'],
    );
    for (const l of exits) assert.match(l, /^region eu: node \(pid \d+\) exited with code 3 after [0-9.]+ s; restarting it in/);
    assert.equal(lines.filter((l) => /^region eu: node restarted \(pid \d+\)$/.test(l)).length, 4);
  });

  it('names the signal of a killed process and runs the same command again; stop() ends it and restarts nothing', async () => {
    const { processes, lines, reported } = supervisor();
    processes.supervise();
    const first = processes.spawn(spec('setInterval(() => {}, 1000)'));
    first.kill('SIGKILL');
    await reported(2);
    assert.match(lines[0] ?? '', new RegExp(`^region eu: node \\(pid ${first.pid}\\) killed by SIGKILL after`));
    const [second] = processes.children;
    assert.ok(second && second.pid !== first.pid && second.spawnargs.join(' ') === first.spawnargs.join(' '));
    await processes.stop();
    assert.equal(second.signalCode, 'SIGTERM');
    assert.equal(lines.length, 2, 'nothing restarted after stop()');
  });

  it('does not restart before supervise(): a cluster that cannot start stops', async () => {
    const { processes, lines } = supervisor();
    const child = processes.spawn(spec('process.exit(1)'));
    // The supervisor's own exit handler, registered first, has run by now: it would have reported.
    await new Promise((resolve) => child.once('exit', resolve));
    assert.deepEqual(lines, []);
    assert.deepEqual(processes.children, [child]);
    await processes.stop();
  });
});
