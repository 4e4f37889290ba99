import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startTestNode, type TestNode } from '../support/harness.js';
import { expectError, http, type Res } from '../support/client.js';
import { UI_CSP } from '../../src/http/routes/ui.js';
import { apiPaths, NAME } from 'georeg/oci';

/** Whether `js` parses as an ES module. */
function parsesAsModule(js: string): boolean {
  return spawnSync(process.execPath, ['--input-type=module', '--check'], { input: js }).status === 0;
}

function assertUiHeaders(res: Res, type: RegExp): void {
  assert.equal(res.status, 200, res.body.toString().slice(0, 300));
  assert.match(res.header('content-type') ?? '', type);
  const csp = res.header('content-security-policy') ?? '';
  assert.equal(csp, UI_CSP);
  for (const d of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self' data:"]) {
    assert.ok(csp.split('; ').includes(d), `CSP has ${d}: ${csp}`);
  }
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:|\*/, 'no inline code, no eval, no other origin');
  assert.equal(res.header('x-content-type-options'), 'nosniff');
  assert.equal(res.header('cache-control'), 'no-cache');
  assert.ok(res.header('etag'));
  assert.equal(Number(res.header('content-length')), res.body.length);
}

describe('http: status page (/georeg/ui)', () => {
  let node: TestNode;
  before(async () => {
    node = await startTestNode();
  });
  after(async () => {
    await node.close();
  });

  it('GET /georeg/ui is an HTML page with a strict CSP and no inline script or style', async () => {
    const res = await http('GET', `${node.url}/georeg/ui`);
    assertUiHeaders(res, /^text\/html; charset=utf-8$/);
    const html = res.body.toString('utf8');
    assert.match(html, /^<!doctype html>/i);
    assert.match(html, /<script type="module" src="ui\/app\.js"><\/script>/);
    assert.match(html, /<link rel="stylesheet" href="ui\/app\.css">/);
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, 'every script is external');
    assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=|javascript:/i, 'no inline style or handlers');
    assert.doesNotMatch(html, /(?:src|href)="(?:https?:)?\/\//i, 'nothing from another origin');
    assert.match(html, /<label for="ref">/);
    assert.match(html, /aria-live="polite"/);
  });

  it('every URL the page references resolves on the node (relative to /georeg/ui)', async () => {
    const html = (await http('GET', `${node.url}/georeg/ui`)).body.toString('utf8');
    const refs = [...html.matchAll(/\s(?:src|href)="([^"#]+)"/g)].map((m) => m[1] as string);
    assert.ok(refs.length >= 4, refs.join(', '));
    for (const ref of refs) {
      const url = new URL(ref, `${node.url}/georeg/ui`);
      assert.equal(url.origin, new URL(node.url).origin);
      const res = await http('GET', url.href);
      assert.equal(res.status, 200, `${ref} -> ${url.pathname}: ${res.status}`);
    }
  });

  it('GET /georeg/ui/app.js is JavaScript that parses and writes no HTML from strings', async () => {
    const res = await http('GET', `${node.url}/georeg/ui/app.js`);
    assertUiHeaders(res, /^text\/javascript; charset=utf-8$/);
    const js = res.body.toString('utf8');
    assert.ok(parsesAsModule(js));
    assert.doesNotMatch(js, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/);
    assert.match(js, /v1\/replication/);
    assert.match(js, /v1\/where\//);
  });

  it('GET /georeg/ui/session.js, which app.js imports, talks to this node only and keeps no password', async () => {
    const res = await http('GET', `${node.url}${apiPaths.uiSession()}`);
    assertUiHeaders(res, /^text\/javascript; charset=utf-8$/);
    const js = res.body.toString('utf8');
    assert.ok(parsesAsModule(js));
    assert.match(js, /const TOKEN_URL = '\.\.\/oauth2\/token';/);
    assert.doesNotMatch(js, /https?:\/\/|localStorage|innerHTML/);
    assert.doesNotMatch(js, /setItem\([^)]*password/);
    assert.match((await http('GET', `${node.url}/georeg/ui/app.js`)).body.toString('utf8'), /from '\.\/session\.js'/);
  });

  it('GET /georeg/ui/dom.js and matrix.js, which app.js imports, are modules that write no HTML from strings', async () => {
    const app = (await http('GET', `${node.url}/georeg/ui/app.js`)).body.toString('utf8');
    for (const [path, file] of [
      [apiPaths.uiDom(), 'dom'],
      [apiPaths.uiMatrix(), 'matrix'],
    ] as const) {
      const res = await http('GET', `${node.url}${path}`);
      assertUiHeaders(res, /^text\/javascript; charset=utf-8$/);
      const js = res.body.toString('utf8');
      assert.ok(parsesAsModule(js), file);
      assert.doesNotMatch(js, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/, file);
      assert.match(app, new RegExp(`from '\\./${file}\\.js'`));
    }
  });

  it("GET /georeg/ui/grammar.js, which app.js imports, is the registry's own grammar", async () => {
    const res = await http('GET', `${node.url}/georeg/ui/grammar.js`);
    assertUiHeaders(res, /^text\/javascript; charset=utf-8$/);
    const grammar = (await import(`data:text/javascript,${encodeURIComponent(res.body.toString('utf8'))}`)) as { NAME: RegExp };
    assert.equal(grammar.NAME.source, NAME.source);
    assert.match((await http('GET', `${node.url}/georeg/ui/app.js`)).body.toString('utf8'), /from '\.\/grammar\.js'/);
  });

  it('GET /georeg/ui/app.css is CSS; the favicon is SVG', async () => {
    const css = await http('GET', `${node.url}/georeg/ui/app.css`);
    assertUiHeaders(css, /^text\/css; charset=utf-8$/);
    assert.match(css.body.toString(), /font: [^;]*system-ui/);
    assert.doesNotMatch(css.body.toString(), /@import|url\(\s*['"]?https?:/);
    assertUiHeaders(await http('GET', `${node.url}/georeg/ui/favicon.svg`), /^image\/svg\+xml$/);
  });

  it('HEAD answers the headers without a body; If-None-Match with the ETag gets 304', async () => {
    const head = await http('HEAD', `${node.url}/georeg/ui`);
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(head.header('content-security-policy'), UI_CSP);
    const get = await http('GET', `${node.url}/georeg/ui/app.js`);
    const etag = get.header('etag') ?? '';
    const again = await http('GET', `${node.url}/georeg/ui/app.js`, { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
    assert.equal(again.header('etag'), etag);
    const other = await http('GET', `${node.url}/georeg/ui/app.js`, { headers: { 'If-None-Match': '"nope"' } });
    assert.equal(other.status, 200);
  });

  it('GET /georeg/ui/ redirects to /georeg/ui (relative Location)', async () => {
    const res = await http('GET', `${node.url}/georeg/ui/`);
    assert.equal(res.status, 308);
    assert.equal(new URL(res.header('location') ?? '', `${node.url}/georeg/ui/`).pathname, '/georeg/ui');
  });

  it('unknown paths under /georeg/ui are 404 in the OCI error format', async () => {
    for (const path of ['/georeg/ui/x', '/georeg/ui/app.js/x', '/georeg/ui/../v2/', '/georeg/uix', '/georeg/ui/index.html']) {
      const res = await http('GET', `${node.url}${path}`);
      expectError(res, 404, 'NOT_FOUND');
      assert.equal(res.header('content-security-policy'), undefined, path);
    }
  });

  it('other methods are 405 with Allow', async () => {
    const res = await http('POST', `${node.url}/georeg/ui`, { body: 'x' });
    expectError(res, 405, 'UNSUPPORTED');
    assert.equal(res.header('allow'), 'GET, HEAD');
  });
});
