/**
 * The README's Azure SDK example run as written: the JavaScript block between its
 * `azure-sdk-example` markers, in a child process that trusts the node's CA only through
 * NODE_EXTRA_CA_CERTS, against a black-box `georeg serve` over HTTPS with authentication on, with
 * the token the README creates; then the tag it locked is refused a push and shown locked by the CLI.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADMIN_PASSWORD, createToken, startSecureNode, type SecureNode } from './support/azure-sdk.js';
import { repoRoot } from './support/process.js';
import { georegCli, runNode } from './support/serve.js';

const SMALL = '/tmp/lab-images/small:latest'; // built by scripts/ensure-tools.mjs

/** The example's code, as the README has it. */
async function example(): Promise<string> {
  const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
  const block = /<!-- azure-sdk-example -->\n```js\n([^]*?)```\n<!-- \/azure-sdk-example -->/.exec(readme)?.[1];
  assert.ok(block, 'README.md has the Azure SDK example between its markers');
  return block;
}

describe('the README Azure SDK example, run as written (e2e)', function () {
  this.timeout(120_000);
  let tmp: string;
  let secure: SecureNode;
  let app: string;
  const admin = (): Record<string, string> => ({ GEOREG_USERNAME: 'admin', GEOREG_PASSWORD: ADMIN_PASSWORD });

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'georeg-e2e-readme-sdk-'));
    secure = await startSecureNode(tmp);
    app = `${secure.endpoint}/team/app`;
    const pushed = await georegCli(['push', SMALL, `${app}:v1`, '--ca', secure.caFile], admin());
    assert.equal(pushed.code, 0, pushed.stderr);
  });
  after(async function () {
    this.timeout(30_000);
    await secure?.node.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('lists the repositories, shows the tag and locks it; the lock holds for pushes and georeg show shows it', async () => {
    const secret = await createToken(secure, 'sdk', [{ repositories: ['team/**'], actions: ['pull', 'metadata_read', 'metadata_write'] }]);
    const ran = await runNode(['--input-type=module', '-e', await example()], {
      NODE_EXTRA_CA_CERTS: secure.caFile,
      GEOREG_URL: secure.endpoint,
      GEOREG_USERNAME: 'sdk',
      GEOREG_PASSWORD: secret,
    });
    assert.equal(ran.code, 0, ran.stderr);
    assert.match(ran.stdout, /^repository team\/app\nteam\/app:v1 is sha256:[a-f0-9]{64}, last moved \S+Z\n/);
    assert.match(ran.stdout, /^team\/app:v1 locked: canWrite false, canDelete false$/m);
    const refused = await georegCli(['push', SMALL, `${app}:v1`, '--ca', secure.caFile], admin());
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(refused.stderr, /423 DENIED team\/app:v1 is locked: it cannot be written/);
    const shown = await georegCli(['show', `${app}:v1`, '--ca', secure.caFile], admin());
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^locks +locked against delete, write \(read, list allowed\)$/m);
  });
});
