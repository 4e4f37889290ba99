import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { apiPaths } from 'georeg/oci';
import { Cluster } from './support/cluster.js';
import { Skopeo } from './support/skopeo.js';
import { CHROMIUM, CHROMIUM_ARGS } from './support/chromium.js';

describe('status page of georeg cluster --secure: sign in, search, sign out (e2e, headless Chromium)', function () {
  this.timeout(120_000);
  let dir: string;
  let cluster: Cluster | undefined;
  let url: string;
  let adminPassword: string;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-ui-auth-'));
    [cluster, browser] = await Promise.all([
      Cluster.start(join(dir, 'data'), ['eu', 'us', 'ap'], ['--secure']),
      chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS }),
    ]);
    url = cluster.region('eu').registry;
    adminPassword = (await readFile(join(dir, 'data', 'admin-password'), 'utf8')).trim();
    const certDir = join(dir, 'certs.d');
    await mkdir(certDir);
    await copyFile(join(dir, 'data', 'certs', 'ca.pem'), join(certDir, 'ca.crt'));
    const skopeo = await Skopeo.create(join(dir, 'skopeo-cache'));
    await skopeo.run([
      'copy',
      '--dest-cert-dir',
      certDir,
      '--dest-creds',
      `admin:${adminPassword}`,
      'oci:/tmp/lab-images/small:latest',
      `docker://${url.replace('https://', '')}/demo/small:v1`,
    ]);
    // The browser is not given the cluster's throwaway CA; the test looks at the page, not at TLS.
    page = await browser.newPage({ ignoreHTTPSErrors: true });
    await page.addInitScript(() => {
      const w = window as unknown as { __csp: string[] };
      w.__csp = [];
      document.addEventListener('securitypolicyviolation', (e) => w.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    page.on('console', (m) => {
      // The refused search and the wrong password are answered 401 on purpose; Chromium logs each.
      if (m.type() === 'error' && !/status of 401/.test(m.text())) consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
  });

  after(async () => {
    await browser?.close();
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('offers to sign in when a search is refused for want of credentials', async () => {
    await page.goto(`${url}${apiPaths.ui()}?ref=demo/small:v1`);
    await page.locator('#signin-form').waitFor({ state: 'visible' });
    assert.match(await page.locator('#where-result').innerText(), /HTTP 401/);
    assert.equal(await page.locator('#signin-open').isHidden(), true);
  });

  it('says why a wrong password is refused, and keeps nothing', async () => {
    await page.fill('#signin-user', 'admin');
    await page.fill('#signin-password', 'not the password');
    await page.click('#signin-submit');
    await page.locator('#signin-error').waitFor({ state: 'visible' });
    assert.match(await page.locator('#signin-error').innerText(), /Could not sign in: HTTP 401/);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
  });

  it('signs in, then finds the image; the tab keeps a token, never the password', async () => {
    await page.fill('#signin-user', 'admin');
    await page.fill('#signin-password', adminPassword);
    await page.click('#signin-submit');
    await page.locator('.where-table').waitFor();
    assert.match(await page.locator('#account-state').innerText(), /Signed in as admin/);
    assert.equal(await page.locator('#signin-form').isHidden(), true);
    const rows = await page.$$eval('#where-result tbody tr', (els) =>
      els.map((e) => [e.getAttribute('data-region'), e.getAttribute('data-state')]),
    );
    assert.deepEqual(
      rows.find(([region]) => region === 'eu'),
      ['eu', 'complete'],
    );
    const stored = await page.evaluate(() => JSON.stringify(sessionStorage));
    assert.doesNotMatch(stored, new RegExp(adminPassword));
    assert.equal(await page.inputValue('#signin-password'), '', 'the password field is cleared');
  });

  it('signs out: the token is forgotten and a search is refused again', async () => {
    await page.click('#signout');
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    assert.equal(await page.locator('#signin-open').isVisible(), true);
    await page.click('#search');
    await page.locator('#signin-form').waitFor({ state: 'visible' });
  });

  it('had no console errors (but the 401s asked for) and no CSP violations', async () => {
    assert.deepEqual(consoleErrors, []);
    assert.deepEqual(await page.evaluate(() => (window as unknown as { __csp: string[] }).__csp), []);
  });
});
