import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Skopeo } from './support/skopeo.js';
import { Cluster, until, type ClusterRegion } from './support/cluster.js';
import { repoRoot } from './support/process.js';
import { apiPaths } from 'georeg/oci';
import { pushImage } from 'georeg/test-support';
import { CHROMIUM, CHROMIUM_ARGS } from './support/chromium.js';

interface WhereBody {
  regions: { region: string; state: string; digest?: string }[];
}

/** What the page shows per region: data-region -> data-health (cards) or data-state (search rows). */
function shown(page: Page, selector: string, attr: string): Promise<Record<string, string>> {
  return page.$$eval(
    selector,
    (els, a) => Object.fromEntries(els.map((e) => [e.getAttribute('data-region') ?? '', e.getAttribute(a) ?? ''])),
    attr,
  );
}

describe('status page /georeg/ui in headless Chromium (e2e, three regions)', function () {
  this.timeout(90_000);
  let dir: string;
  let cluster: Cluster;
  let us: ClusterRegion;
  let browser: Browser;
  let page: Page;
  let digest: string;
  const consoleErrors: string[] = [];
  const failedRequests: string[] = [];

  before(async function () {
    this.timeout(80_000);
    dir = await mkdtemp(join(tmpdir(), 'georeg-ui-'));
    const skopeo = await Skopeo.create(join(dir, 'skopeo-cache'));
    const [started, launched] = await Promise.all([
      Cluster.start(join(dir, 'data')),
      chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }),
    ]);
    cluster = started;
    browser = launched;
    const eu = cluster.region('eu');
    us = cluster.region('us');
    await skopeo.run([
      'copy',
      '--dest-tls-verify=false',
      'oci:/tmp/lab-images/small:latest',
      `docker://${eu.registry.replace('http://', '')}/demo/small:v1`,
    ]);
    await until(45_000, 'demo/small:v1 complete in every region', async () => {
      const body = (await (await fetch(`${us.registry}${apiPaths.where('demo/small', 'v1')}`)).json()) as WhereBody;
      digest = body.regions[0]?.digest ?? '';
      return body.regions.length === 3 && body.regions.every((r) => r.state === 'complete');
    });

    page = await browser.newPage({ viewport: { width: 1200, height: 860 } });
    // Collected from the first document on: CSP violations (also logged as console errors), script errors, failed loads.
    await page.addInitScript(() => {
      const w = window as unknown as { __csp: string[] };
      w.__csp = [];
      document.addEventListener('securitypolicyviolation', (e) => w.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
    page.on('requestfailed', (r) => failedRequests.push(`${r.url()}: ${r.failure()?.errorText}`));
    page.on('response', (r) => {
      if (r.status() >= 400) failedRequests.push(`${r.url()}: HTTP ${r.status()}`);
    });
  });

  after(async function () {
    this.timeout(100_000);
    await browser?.close();
    if (cluster) await cluster.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('loads with a strict CSP and shows this region and the two it replicates from, with health, live', async () => {
    const res = await page.goto(`${us.registry}${apiPaths.ui()}`);
    assert.equal(res?.status(), 200);
    assert.match(res?.headers()['content-security-policy'] ?? '', /script-src 'self'/);
    await page.waitForSelector('#regions .card[data-region="ap"]');
    assert.equal(await page.textContent('#region'), 'us');
    assert.match(await page.title(), /\bus\b/);

    const roles = await shown(page, '#regions .card', 'data-role');
    assert.deepEqual(roles, { us: 'self', eu: 'peer', ap: 'peer' });
    // Replication has run: every region healthy (a peer's transient start-up error clears within a poll or two).
    await page.waitForFunction(() => document.getElementById('summary')?.textContent === '3 regions · all healthy', undefined, {
      timeout: 15_000,
    });
    assert.deepEqual(await shown(page, '#regions .card', 'data-health'), { us: 'healthy', eu: 'healthy', ap: 'healthy' });
    for (const r of ['us', 'eu', 'ap']) {
      assert.equal((await page.textContent(`#regions .card[data-region="${r}"] .badge`))?.trim(), 'Healthy');
    }
    // eu's push may reach us first through anti-entropy at start; its event is applied once us's consumer of eu's stream is up.
    await page.waitForFunction(
      () => /Applied\s*[1-9]/.test(document.querySelector('#regions .card[data-region="eu"]')?.textContent ?? ''),
      undefined,
      { timeout: 15_000 },
    );
    const euCard = (await page.textContent('#regions .card[data-region="eu"]')) ?? '';
    assert.match(euCard, /Lag/);
    assert.match(euCard, /Pending events/);
    assert.match((await page.textContent('#regions .card[data-region="us"]')) ?? '', /Outbox depth\s*0/);
    // This region's event stream: its events, bytes and oldest event (us published its push's events).
    assert.match((await page.textContent('#regions .card[data-region="us"]')) ?? '', /Event stream\s*\d+ · [\d.]+ (B|KiB|MiB) · oldest /);
    // The matrix: every region's own view of replication into it, gathered by us.
    const matrix = await page.$$eval('.matrix td', (tds) =>
      tds.map((td) => `${td.closest('tr')?.getAttribute('data-into')}<${td.getAttribute('data-from')} ${td.getAttribute('data-state')}`),
    );
    assert.deepEqual(matrix.sort(), [
      'ap<ap self',
      'ap<eu ok',
      'ap<us ok',
      'eu<ap ok',
      'eu<eu self',
      'eu<us ok',
      'us<ap ok',
      'us<eu ok',
      'us<us self',
    ]);

    // Live: the status is polled again (every 2 s).
    const before = await page.textContent('#conn-text');
    assert.match(before ?? '', /^Live · updated /);
    await page.waitForFunction((t) => document.getElementById('conn-text')?.textContent !== t, before, { timeout: 8_000 });
  });

  it('refuses a bad reference with a clear message, without asking the node', async () => {
    const marker = failedRequests.length;
    await page.fill('#ref', 'Demo/Small:v1');
    await page.press('#ref', 'Enter');
    await page.waitForSelector('#ref-error:not([hidden])');
    assert.match((await page.textContent('#ref-error')) ?? '', /Not a valid repository name: "Demo\/Small"/);
    assert.equal(await page.getAttribute('#ref', 'aria-invalid'), 'true');
    await page.fill('#ref', 'demo/small');
    await page.click('#search');
    await page.waitForFunction(() => /Add a tag or a digest/.test(document.getElementById('ref-error')?.textContent ?? ''));
    assert.equal(failedRequests.length, marker);
  });

  it('"Where is my image?" says missing in every region for a tag nobody pushed', async () => {
    await page.fill('#ref', 'demo/small:nope');
    await page.press('#ref', 'Enter');
    await page.waitForSelector('#where-result tr[data-state="absent"][data-region="ap"]');
    assert.equal(await page.isHidden('#ref-error'), true);
    assert.deepEqual(await shown(page, '#where-result tbody tr', 'data-state'), { us: 'absent', eu: 'absent', ap: 'absent' });
    const labels = await page.$$eval('#where-result tbody .badge', (els) => els.map((e) => e.textContent?.trim()));
    assert.deepEqual(labels, ['Missing', 'Missing', 'Missing']);
    assert.equal(await page.textContent('.where-summary'), 'Not in any region');
  });

  it('finds the pushed image by digest and by tag, present and complete in all three regions', async () => {
    await page.fill('#ref', `demo/small@${digest}`);
    await page.press('#ref', 'Enter');
    await page.waitForFunction((d) => document.querySelector('#where-result h3')?.textContent === `demo/small@${d}`, digest);
    await page.waitForSelector('#where-result tr[data-state="complete"][data-region="ap"]');
    assert.deepEqual(await shown(page, '#where-result tbody tr', 'data-state'), { us: 'complete', eu: 'complete', ap: 'complete' });

    // The screenshot shows the tag search, typed like a person would (host included).
    await page.fill('#ref', `${us.registry.replace('http://', '')}/demo/small:v1`);
    await page.click('#search');
    await page.waitForFunction(() => document.querySelector('#where-result h3')?.textContent === 'demo/small:v1');
    await page.waitForSelector('#where-result tr[data-state="complete"][data-region="ap"]');
    assert.deepEqual(await shown(page, '#where-result tbody tr', 'data-state'), { us: 'complete', eu: 'complete', ap: 'complete' });
    const labels = await page.$$eval('#where-result tbody .badge', (els) => els.map((e) => e.textContent?.trim()));
    assert.deepEqual(labels, ['Present', 'Present', 'Present']);
    assert.equal(await page.textContent('.where-summary'), 'Present in all 3 regions');
    assert.equal(await page.textContent('.where-digest code'), digest);
    assert.match(page.url(), /\?ref=demo%2Fsmall%3Av1$/);

    const shot =
      process.env['GEOREG_WRITE_DOCS'] === '1'
        ? join(repoRoot, 'docs', 'status-page.png')
        : join(tmpdir(), `georeg-status-page-${process.pid}.png`);
    await mkdir(dirname(shot), { recursive: true });
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`      screenshot: ${shot}`);
  });

  it('had no console errors, CSP violations or failed requests', async () => {
    const csp = await page.evaluate(() => (window as unknown as { __csp: string[] }).__csp);
    assert.deepEqual(csp, [], 'CSP violations');
    assert.deepEqual(consoleErrors, [], 'console errors');
    assert.deepEqual(failedRequests, [], 'failed requests');
  });

  it('shows a region that cannot be asked as unreachable in the matrix, with how many of this region’s events it has not applied', async () => {
    const node = await cluster.pid('ap', 'node');
    cluster.freeze(node);
    try {
      await pushImage(us.registry, 'demo/while-ap-hangs', 'v1');
      const cell = '.matrix tr[data-into="ap"] td[data-from="us"]';
      await page.waitForFunction(
        (sel) => /^unreachable · [1-9]\d* of us’s events not applied$/.test(document.querySelector(sel)?.textContent ?? ''),
        cell,
        { timeout: 30_000 },
      );
      assert.equal(await page.getAttribute(cell, 'data-state'), 'unreachable');
      assert.equal(await page.getAttribute('.matrix tr[data-into="eu"] td[data-from="us"]', 'data-state'), 'ok');
    } finally {
      cluster.thaw(node);
    }
    await page.waitForSelector('.matrix tr[data-into="ap"] td[data-from="us"][data-state="ok"]', { timeout: 30_000 });
  });

  it('shows a region whose last contact failed as unhealthy, one that is down as down, and a lost node as such', async () => {
    // The cluster stays up; the browser is handed a status with a failing peer, then no answer.
    const snapshot = (await (await fetch(`${us.registry}${apiPaths.replication()}`)).json()) as {
      peers: { region: string; lastError?: string; up?: boolean }[];
    };
    for (const p of snapshot.peers) {
      if (p.region === 'ap') p.lastError = 'ap: 14 UNAVAILABLE: No connection established <img src=x>';
      if (p.region === 'eu') p.up = false; // no answer to health probes
    }
    await page.route(/\/georeg\/v1\/replication(\?|$)/, (route) =>
      route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(snapshot) }),
    );
    // eu shows down only from the handed status: once it does, the page shows that status.
    await page.waitForSelector('#regions .card[data-region="eu"][data-health="down"]', { timeout: 8_000 });
    await page.waitForSelector('#regions .card[data-region="ap"][data-health="unhealthy"]', { timeout: 8_000 });
    assert.equal(await page.textContent('#summary'), '3 regions · 1 down (eu) · 1 unhealthy (ap)');
    assert.deepEqual(await shown(page, '#regions .card', 'data-health'), { us: 'healthy', eu: 'down', ap: 'unhealthy' });
    assert.match((await page.textContent('#regions .card[data-region="ap"] .card-error')) ?? '', /Last contact failed: .*<img src=x>/);
    assert.equal(await page.$('#regions img'), null, 'strings are text, never markup');

    await page.unroute(/\/georeg\/v1\/replication(\?|$)/);
    await page.route(/\/georeg\/v1\/replication(\?|$)/, (route) => route.abort('connectionrefused'));
    await page.waitForSelector('#conn[data-conn="down"]', { timeout: 8_000 });
    assert.match((await page.textContent('#summary')) ?? '', /^Status unavailable/);
    await page.unroute(/\/georeg\/v1\/replication(\?|$)/);
    await page.waitForSelector('#conn[data-conn="live"]', { timeout: 8_000 });
    await page.waitForFunction(() => document.getElementById('summary')?.textContent === '3 regions · all healthy');
  });
});
