import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { apiPaths } from 'georeg/oci';
import { ServeProcess } from './support/serve.js';
import { Skopeo } from './support/skopeo.js';
import { CHROMIUM, CHROMIUM_ARGS } from './support/chromium.js';

const ADMIN_PASSWORD = 'an administrator password';

describe('status page with authentication on: sign in, search, sign out (e2e, headless Chromium)', function () {
  this.timeout(90_000);
  let dir: string;
  let node: ServeProcess;
  let url: string;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-ui-auth-'));
    node = ServeProcess.spawn(['--listen', '127.0.0.1:0', '--data', join(dir, 'data')], {
      GEOREG_AUTH_ENABLED: 'true',
      GEOREG_ADMIN_PASSWORD: ADMIN_PASSWORD,
    });
    [url, browser] = await Promise.all([node.listening(), chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })]);
    const skopeo = await Skopeo.create(join(dir, 'skopeo-cache'));
    await skopeo.run([
      'copy',
      '--dest-tls-verify=false',
      '--dest-creds',
      `admin:${ADMIN_PASSWORD}`,
      'oci:/tmp/lab-images/small:latest',
      `docker://${url.replace('http://', '')}/demo/small:v1`,
    ]);
    page = await browser.newPage();
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
    await node?.stop();
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
    await page.fill('#signin-password', ADMIN_PASSWORD);
    await page.click('#signin-submit');
    await page.locator('.where-table').waitFor();
    assert.match(await page.locator('#account-state').innerText(), /Signed in as admin/);
    assert.equal(await page.locator('#signin-form').isHidden(), true);
    const rows = await page.$$eval('#where-result tbody tr', (els) =>
      els.map((e) => [e.getAttribute('data-region'), e.getAttribute('data-state')]),
    );
    assert.deepEqual(rows, [['local', 'complete']]);
    const stored = await page.evaluate(() => JSON.stringify(sessionStorage));
    assert.doesNotMatch(stored, new RegExp(ADMIN_PASSWORD));
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
