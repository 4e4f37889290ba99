/**
 * The observability deliverables against real processes: a three-region `georeg cluster`, scraped
 * by the real Prometheus (Debian's /usr/bin/prometheus) over the files the cluster writes for it
 * (deploy/prometheus/prometheus.yml and alerts.yml as committed, and a targets file naming its
 * regions), and every query of deploy/grafana/dashboards/georeg-replication.json run through its
 * HTTP API. Only the scrape and evaluation intervals and the alerts' `for:` durations are
 * shortened (nothing else may differ: checked).
 *
 * A region goes down by freezing its node (SIGSTOP): a stopped process keeps its sockets open and
 * answers nothing, which is what Prometheus sees of a hung host (the scrape times out); a killed
 * one would be restarted by the cluster at once. SIGCONT brings it back.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pushImage } from 'georeg/test-support';
import { Skopeo } from './support/skopeo.js';
import { Cluster, until, type ClusterRegion } from './support/cluster.js';
import { repoRoot } from './support/process.js';
import { http, Prometheus, type ActiveAlert } from './support/prometheus.js';
import { chartHtml, screenshotHtml, seriesFromMatrix, type PromMatrixItem } from './support/chart.js';
import { apiPaths } from 'georeg/oci';

const exec = promisify(execFile);
const PROMTOOL = process.env.GEOREG_PROMTOOL ?? '/usr/bin/promtool';
const SMALL = '/tmp/lab-images/small:latest'; // built by npm test's pretest
const PROM_DIR = join(repoRoot, 'deploy', 'prometheus');
const DASHBOARD = join(repoRoot, 'deploy', 'grafana', 'dashboards', 'georeg-replication.json');
const METRICS_DOC = join(repoRoot, 'docs', 'metrics.md');
/** What the test runs at instead of 15s, and every alert's `for:` instead of minutes. */
/** Grafana's interval variables, as a query at this resolution would get them. */
const GRAFANA_INTERVAL = '1m';

const host = (r: ClusterRegion): string => r.registry.replace('http://', '');

// ---------------------------------------------------------------- the dashboard's queries

interface DashboardTarget {
  expr?: string;
  legendFormat?: string;
}
interface DashboardPanel {
  title?: string;
  type?: string;
  targets?: DashboardTarget[];
  panels?: DashboardPanel[];
}
interface Dashboard {
  panels: DashboardPanel[];
  templating?: { list: { name: string; type: string; includeAll?: boolean; allValue?: string; current?: { value?: unknown } }[] };
}

function allPanels(panels: DashboardPanel[]): DashboardPanel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}

/** The expression as Grafana would send it: interval variables and template variables (at "All") filled in. */
function substitute(expr: string, dashboard: Dashboard): string {
  let e = expr.replace(/\$__(?:rate_interval|interval|range)\b|\$\{__(?:rate_interval|interval|range)\}/g, GRAFANA_INTERVAL);
  for (const v of dashboard.templating?.list ?? []) {
    if (v.type === 'datasource') continue;
    const current = v.current?.value;
    const all = Array.isArray(current) ? current.includes('$__all') : current === '$__all';
    const value =
      v.includeAll && (all || current === undefined)
        ? (v.allValue ?? '.*')
        : Array.isArray(current)
          ? current.join('|')
          : String(current ?? '');
    e = e.replace(new RegExp(`\\$\\{${v.name}(?::[a-z]+)?\\}|\\$${v.name}\\b`, 'g'), () => value);
  }
  assert.doesNotMatch(e, /\$\{?[A-Za-z_]/, `a variable the test does not know in ${expr}`);
  return e;
}

// ---------------------------------------------------------------- a medium image, pushed over the API

async function completeEverywhere(r: ClusterRegion, repo: string, tag: string): Promise<boolean> {
  const res = await http(`${r.registry}${apiPaths.where(repo, tag)}`);
  if (!res.ok) return false;
  const body = (await res.json()) as { regions: { state: string }[] };
  return body.regions.length === 3 && body.regions.every((x) => x.state === 'complete');
}

// ---------------------------------------------------------------- the test

describe('Prometheus and Grafana deliverables against a three-region cluster (e2e, real prometheus)', function () {
  this.timeout(120_000);
  let dir: string;
  let cluster: Cluster | undefined;
  let prom: Prometheus | undefined;
  let skopeo: Skopeo;
  let eu: ClusterRegion, us: ClusterRegion, ap: ClusterRegion;
  let dashboard: Dashboard;
  let alertNames: string[];
  let t0: number;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-prometheus-'));
    skopeo = await Skopeo.create(join(dir, 'skopeo-cache'));
    dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as Dashboard;
    cluster = await Cluster.start(join(dir, 'data'));
    [eu, us, ap] = [cluster.region('eu'), cluster.region('us'), cluster.region('ap')];

    // What georeg cluster wrote for Prometheus: the committed files as they are, and its regions as targets.
    const written = join(dir, 'data', 'prometheus');
    assert.equal(await readFile(join(written, 'prometheus.yml'), 'utf8'), await readFile(join(PROM_DIR, 'prometheus.yml'), 'utf8'));
    assert.equal(await readFile(join(written, 'alerts.yml'), 'utf8'), await readFile(join(PROM_DIR, 'alerts.yml'), 'utf8'));
    alertNames = [...(await readFile(join(PROM_DIR, 'alerts.yml'), 'utf8')).matchAll(/^\s*- alert:\s*(\S+)/gm)].map((m) => m[1] as string);
    prom = await Prometheus.fromCluster(written, join(dir, 'prometheus'), join(dir, 'tsdb'));
  });

  after(async () => {
    await prom?.stop();
    if (cluster) await cluster.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the committed prometheus.yml and alerts.yml pass promtool', async () => {
    const { stdout } = await exec(PROMTOOL, ['check', 'config', join(PROM_DIR, 'prometheus.yml')]);
    assert.match(stdout, /SUCCESS: 1 rule files found/);
    const targets = JSON.parse(await readFile(join(PROM_DIR, 'targets', 'georeg.json'), 'utf8')) as { labels: { region: string } }[];
    assert.deepEqual(
      targets.map((t) => t.labels.region),
      ['eu', 'us', 'ap'],
    );
  });

  it('scrapes every region: three targets of job georeg, one per region label, all up', async () => {
    type Target = { labels: Record<string, string>; health: string; lastError: string; scrapeUrl: string };
    let last: Target[] = [];
    await until(30_000, 'every target up', async () => {
      last = (await prom!.api<{ activeTargets: Target[] }>('targets', { state: 'active' })).data.activeTargets;
      return last.length === 3 && last.every((t) => t.health === 'up');
    }).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(last.map((t) => [t.scrapeUrl, t.health, t.lastError]))}`);
    });
    assert.deepEqual(
      last.map((t) => t.labels.job),
      ['georeg', 'georeg', 'georeg'],
    );
    assert.deepEqual(last.map((t) => t.labels.region).sort(), ['ap', 'eu', 'us']);
    for (const t of last) assert.equal(t.scrapeUrl, `http://${host(cluster!.region(t.labels.region as string))}${apiPaths.metrics()}`);
    const up = await prom!.query('up{job="georeg"} == 1');
    assert.equal(up.length, 3);
  });

  it('pushes into eu replicate to us and ap; pulls in every region (the data the dashboard shows)', async () => {
    t0 = Date.now() / 1000;
    // Trust decisions need a policy: audit mode on audit/**, a key nobody signs with.
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const policy = {
      keys: [{ name: 'ci', publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString() }],
      policies: [
        { repositories: ['audit/**'], mode: 'audit', keys: ['ci'], threshold: 1 },
        { repositories: ['**'], mode: 'off' },
      ],
    };
    const put = await http(`${eu.registry}${apiPaths.trustPolicy()}`, {
      method: 'PUT',
      body: JSON.stringify(policy),
      headers: { 'Content-Type': 'application/json' },
    });
    assert.equal(put.status, 200, await put.text());

    await skopeo.run(['copy', '--dest-tls-verify=false', `oci:${SMALL}`, `docker://${host(eu)}/demo/small:v1`]);
    await skopeo.run(['copy', '--dest-tls-verify=false', `oci:${SMALL}`, `docker://${host(eu)}/audit/app:v1`]);
    // A 128 MiB layer takes a couple of seconds to copy: lag, bytes in flight and throughput show it.
    await pushImage(eu.registry, 'demo/medium', 'v1', [randomBytes(128 * 1024 * 1024)]); // straight over the API, monolithic uploads
    await until(
      60_000,
      'demo/small:v1 and demo/medium:v1 complete in every region',
      async () => (await completeEverywhere(us, 'demo/small', 'v1')) && (await completeEverywhere(us, 'demo/medium', 'v1')),
    );

    for (const r of [us, ap])
      await skopeo.run(['copy', '--src-tls-verify=false', `docker://${host(r)}/demo/small:v1`, `oci:${join(dir, `pulled-${r.name}`)}:v1`]);
    const pull = async (r: ClusterRegion): Promise<void> => {
      const res = await http(`${r.registry}${apiPaths.manifest('demo/small', 'v1')}`, {
        headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      const manifest = (await res.json()) as { layers: { digest: string }[] };
      const blob = await http(`${r.registry}${apiPaths.blob('demo/small', manifest.layers[0]?.digest)}`);
      assert.equal(blob.status, 200);
      await blob.arrayBuffer();
    };
    for (const r of [eu, us, ap]) {
      await pull(r);
      const gc = await http(`${r.registry}${apiPaths.gc()}?dryRun=true`, { method: 'POST' });
      assert.equal(gc.status, 200, await gc.text());
    }
    // A counter series is born at its first count, which rate() cannot see as an increase (it has
    // no earlier sample): pull again once Prometheus has scraped the series.
    await until(30_000, 'the GETs of every region to be scraped', async () => {
      const seen = await prom!.query(
        'count by (region, route) (georeg_http_requests_total{job="georeg", route=~"manifests|blobs", method="GET", status="200"})',
      );
      return seen.length === 6;
    });
    for (const r of [eu, us, ap]) await pull(r);
    // Unsigned in audit mode: served, and counted as a refusal (pulled twice, as above).
    const auditPull = async (): Promise<void> => {
      const res = await http(`${eu.registry}${apiPaths.manifest('audit/app', 'v1')}`, {
        headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      assert.equal(res.status, 200, await res.text());
    };
    await auditPull();
    await until(
      30_000,
      'the audit decision to be scraped',
      async () => (await prom!.query('georeg_trust_decisions_total{job="georeg", region="eu", mode="audit"}')).length > 0,
    );
    await auditPull();
  });

  it('every metric of docs/metrics.md is scraped from every region', async () => {
    const doc = await readFile(METRICS_DOC, 'utf8');
    const metrics = [...doc.matchAll(/^\| `(georeg_[a-z0-9_]+)` \| (gauge|counter|histogram) \|/gm)].map((m) => ({
      name: m[1] as string,
      type: m[2] as string,
    }));
    assert.ok(metrics.length >= 25, `only ${metrics.length} metrics found in docs/metrics.md`);
    // Series labelled by outcome exist from the first count on: failures by reason (nothing fails
    // here) and trust decisions (only eu served a repository under a policy).
    const where: Record<string, string[]> = { georeg_replication_failures_total: [], georeg_trust_decisions_total: ['eu'] };
    const missing = new Map<string, string[]>();
    await until(30_000, 'every documented metric in every region', async () => {
      missing.clear();
      for (const m of metrics) {
        const series = m.type === 'histogram' ? `${m.name}_count` : m.name;
        const regions = (await prom!.query(`count by (region) (${series}{job="georeg"})`)).map((s) => s.metric.region);
        const absent = (where[m.name] ?? ['eu', 'us', 'ap']).filter((r) => !regions.includes(r));
        if (absent.length > 0) missing.set(m.name, absent);
      }
      return missing.size === 0;
    }).catch((e: Error) => {
      throw new Error(`${e.message}: missing ${JSON.stringify(Object.fromEntries(missing))}`);
    });
    // Replication metrics: one series per peer, source = the peer, target = the scraped node's region.
    const pairs = (await prom!.query('georeg_replication_peer_up{job="georeg"}'))
      .map((s) => `${s.metric.source}->${s.metric.target}@${s.metric.region}`)
      .sort();
    assert.deepEqual(pairs, ['ap->eu@eu', 'ap->us@us', 'eu->ap@ap', 'eu->us@us', 'us->ap@ap', 'us->eu@eu']);
    const info = (await prom!.query('georeg_info{job="georeg"}'))
      .map((s) => `${s.metric.exported_region ?? s.metric.region}@${s.metric.region}`)
      .sort();
    assert.deepEqual(info, ['ap@ap', 'eu@eu', 'us@us']);
  });

  it('every query of the Grafana dashboard parses and returns data', async () => {
    const queries = allPanels(dashboard.panels).flatMap((p) =>
      (p.targets ?? []).map((t) => ({ panel: p.title ?? '?', expr: t.expr ?? '' })),
    );
    assert.ok(queries.length >= 15, `only ${queries.length} queries in the dashboard`);
    for (const q of queries) assert.notEqual(q.expr.trim(), '', `${q.panel}: empty expr`);
    const pending = new Set(queries.map((q) => substitute(q.expr, dashboard)));
    // Each must parse at once; some need a scrape or two after the workload before a rate has two points.
    await until(30_000, 'every dashboard query to return data', async () => {
      for (const expr of [...pending]) if ((await prom!.query(expr)).length > 0) pending.delete(expr);
      return pending.size === 0;
    }).catch((e: Error) => {
      throw new Error(`${e.message}; no data for:\n${[...pending].join('\n')}`);
    });
    // And the data says what happened: the 128 MiB layer went from eu to us and ap, every region served pulls.
    const panelQuery = (title: string, i = 0): string => {
      const expr = allPanels(dashboard.panels).find((p) => p.title === title)?.targets?.[i]?.expr;
      assert.ok(expr, `no panel "${title}"`);
      return substitute(expr, dashboard);
    };
    const positive = async (expr: string, key: (m: Record<string, string>) => string): Promise<string[]> =>
      (await prom!.query(expr))
        .filter((s) => Number(s.value[1]) > 0)
        .map((s) => key(s.metric))
        .sort();
    // The last pulls may not be scraped yet: wait for the increase to show, then compare.
    const expectPositive = async (expr: string, key: (m: Record<string, string>) => string, expected: string[]): Promise<void> => {
      let got: string[] = [];
      await until(
        15_000,
        `${expr} > 0 for ${expected.join(', ')}`,
        async () => JSON.stringify((got = await positive(expr, key))) === JSON.stringify(expected),
      ).catch((e: Error) => {
        throw new Error(`${e.message}; got ${got.join(', ')}`);
      });
    };
    await expectPositive(panelQuery('Replication throughput (bytes/s)'), (m) => `${m.source}->${m.target}`, ['eu->ap', 'eu->us']);
    await expectPositive(panelQuery('Pulls by region (GET requests/s)', 0), (m) => m.region as string, ['ap', 'eu', 'us']);
    await expectPositive(panelQuery('Pulls by region (GET requests/s)', 1), (m) => m.region as string, ['ap', 'eu', 'us']);
  });

  it('every alert rule is loaded and evaluates without error', async () => {
    type Rule = { name: string; health: string; lastError?: string; query: string; type: string };
    let rules: Rule[] = [];
    await until(30_000, 'every rule evaluated', async () => {
      const r = await prom!.api<{ groups: { rules: Rule[] }[] }>('rules', { type: 'alert' });
      rules = r.data.groups.flatMap((g) => g.rules);
      return rules.length > 0 && rules.every((x) => x.health !== 'unknown');
    });
    assert.deepEqual(rules.map((r) => r.name).sort(), [...alertNames].sort());
    assert.ok(alertNames.length >= 6);
    for (const r of rules) assert.equal(r.health, 'ok', `${r.name}: ${r.lastError} (${r.query})`);
  });

  it('fires GeoregTrustVerificationFailures for the unsigned pull in audit mode', async () => {
    let alerts: ActiveAlert[] = [];
    await until(30_000, 'GeoregTrustVerificationFailures firing', async () => {
      alerts = (await prom!.api<{ alerts: ActiveAlert[] }>('alerts')).data.alerts;
      return alerts.some((a) => a.labels.alertname === 'GeoregTrustVerificationFailures' && a.state === 'firing');
    }).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(alerts)}`);
    });
    const fired = alerts.filter((a) => a.labels.alertname === 'GeoregTrustVerificationFailures');
    assert.deepEqual(
      fired.map((a) => [a.labels.region, a.labels.mode, a.labels.severity]),
      [['eu', 'audit', 'warning']],
    );
    assert.notEqual(fired[0]?.labels.result, 'verified');
  });

  it('fires GeoregRegionDown for ap, and only ap, while its node hangs; resolves when it is back', async () => {
    const alerts = async (): Promise<ActiveAlert[]> => (await prom!.api<{ alerts: ActiveAlert[] }>('alerts')).data.alerts;
    const regionDown = (all: ActiveAlert[]): ActiveAlert[] => all.filter((a) => a.labels.alertname === 'GeoregRegionDown');
    assert.deepEqual(regionDown(await alerts()), []);

    const frozen = await cluster!.pid('ap', 'node');
    cluster!.freeze(frozen);
    let seen: ActiveAlert[] = [];
    await until(30_000, 'GeoregRegionDown firing for ap', async () => {
      seen = regionDown(await alerts());
      return seen.some((a) => a.labels.region === 'ap' && a.state === 'firing');
    }).catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(seen)}`);
    });
    assert.deepEqual(
      seen.map((a) => [a.labels.region, a.labels.severity, a.labels.instance]),
      [['ap', 'critical', host(ap)]],
    );
    assert.equal(cluster!.process.exitCode, null, 'the rest of the cluster keeps running');
    for (const r of [eu, us]) assert.equal((await http(`${r.registry}${apiPaths.base()}`)).status, 200);

    cluster!.thaw(frozen);
    await until(30_000, 'ap to be scraped again and the alert to resolve', async () => {
      const up = await prom!.query('up{job="georeg", region="ap"}');
      return up[0]?.value[1] === '1' && regionDown(await alerts()).length === 0;
    });
  });

  it('renders the replication lag panel (query_range) as a PNG', async () => {
    const panel = allPanels(dashboard.panels).find((p) => p.title === 'Replication lag per region pair');
    assert.ok(panel?.targets?.length, 'the dashboard has a replication lag panel');
    const end = Date.now() / 1000;
    const series = [];
    for (const t of panel.targets) {
      const expr = substitute(t.expr as string, dashboard);
      const r = await prom!.api<{ resultType: string; result: PromMatrixItem[] }>('query_range', {
        query: expr,
        start: String(Math.floor(t0 - 5)),
        end: String(Math.ceil(end)),
        step: '1',
      });
      assert.equal(r.status, 'success', `${expr}: ${r.error}`);
      series.push(...seriesFromMatrix(r.data.result, t.legendFormat ?? '', 1));
    }
    assert.equal(series.length, 6, 'one line per region pair');
    const html = chartHtml(series, {
      title: panel.title as string,
      subtitle: `${panel.targets.map((t) => t.expr).join('; ')}   ($region = All; query_range, step 1 s)`,
      unit: 's',
    });
    const out =
      process.env.GEOREG_WRITE_DOCS === '1'
        ? join(repoRoot, 'docs', 'dashboard-replication-lag.png')
        : join(repoRoot, 'test-artifacts', 'dashboard-replication-lag.png');
    await writeFile(join(dir, 'lag.html'), html);
    await screenshotHtml(html, out);
    const png = await readFile(out);
    assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
    assert.ok(png.length > 10_000, `${out}: ${png.length} bytes`);
  });
});
