import assert from 'node:assert/strict';
import type * as HarnessModule from '../../nodes/test/support/harness.js';
import { georeg } from './support/run.js';

const support = (file: string): string => new URL(`../../../nodes/dist/test/support/${file}`, import.meta.url).href;
const { startTestNode } = (await import(support('harness.js'))) as typeof HarnessModule;

const ADMIN_PASSWORD = 'an administrator password';
const ADMIN = { GEOREG_CREDS: `admin:${ADMIN_PASSWORD}` };

describe('georeg region: drain and undrain (against a node with authentication on)', function () {
  this.timeout(30_000);
  let node: HarnessModule.TestNode;
  const region = (args: string[], env: Record<string, string> = ADMIN) => georeg(['region', ...args, '--url', node.url], env);

  before(async () => {
    process.env.GEOREG_ADMIN_PASSWORD = ADMIN_PASSWORD;
    node = await startTestNode({ region: 'us', auth: { enabled: true } }).finally(() => delete process.env.GEOREG_ADMIN_PASSWORD);
  });
  after(() => node?.close());

  it('drains with a reason, shows it, and undrains', async () => {
    const drained = await region(['drain', 'us', '--reason', 'kernel upgrade']);
    assert.equal(drained.code, 0, drained.stderr);
    assert.match(drained.stdout, /^region us is drained since \S+: kernel upgrade; its peers send no client there$/m);
    assert.match((await region(['show', 'us'], {})).stdout, /drained since .*kernel upgrade/);
    const back = await region(['undrain', 'us']);
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, /^region us is in routing \(since \S+\)$/m);
  });

  it('refuses another region than the node is, naming both, and a drain without an administrator', async () => {
    const wrong = await region(['drain', 'eu']);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /is region us, not eu: give eu's own node with --url/);
    const anonymous = await region(['drain', 'us'], {});
    assert.equal(anonymous.code, 1);
    assert.match(anonymous.stderr, /403 DENIED an administrator is required/);
    assert.match((await region(['show', 'us'], {})).stdout, /^region us is in routing/m);
  });

  it('--help says what a drain does; a bad action gets the usage', async () => {
    const help = await georeg(['region', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /georeg region drain NAME \[--reason TEXT\] \[--url URL\]/);
    const bad = await georeg(['region', 'drian', 'us']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /expected `region show\|drain\|undrain NAME`/);
  });
});
