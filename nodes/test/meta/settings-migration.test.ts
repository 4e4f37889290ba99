import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { Identities } from '../../src/auth/identities.js';
import { HybridClock } from '../../src/hlc.js';
import { LevelMetaStore } from '../../src/meta/level-store.js';
import { TrustPolicies } from '../../src/trust/policies.js';

const clock = { wallMs: 1_700_000_000_000, logical: 3, region: 'eu' };
const HASH = `scrypt$${2 ** 15}$8$1$${Buffer.alloc(16).toString('base64')}$${Buffer.alloc(32).toString('base64')}`;
const user = { name: 'dev', gen: 'g1', password: HASH, admin: false, roles: [], disabled: false, created: 5, clock };
const token = {
  name: 'ci',
  gen: 'g2',
  secret: Buffer.alloc(32).toString('base64'),
  scopes: [],
  disabled: false,
  expires: 0,
  created: 6,
  clock,
};
const gone = { name: 'old', deleted: true, clock };
const document = { keys: [], policies: [{ repositories: ['team/**'], mode: 'off' }] };
const seedText = JSON.stringify(document);
const bindings = [{ sequence: 7, digest: `sha256:${'a'.repeat(64)}`, keyId: 'k1', manifest: `sha256:${'b'.repeat(64)}`, verified: true }];

/** What the previous release kept as settings (s!<key> → the record as a JSON string), beside a tag. */
const previousRelease: [string, unknown][] = [
  ['s!trust/policy', JSON.stringify({ document, clock })],
  ['s!trust/policy-seed', createHash('sha256').update(seedText).digest('hex')],
  ['s!trust/bindings/team/app:v1', JSON.stringify(bindings)],
  ['s!auth/user/dev', JSON.stringify(user)],
  ['s!auth/user/old', JSON.stringify(gone)],
  ['s!auth/token/ci', JSON.stringify(token)],
  [`t!team/app!v1`, `sha256:${'c'.repeat(64)}`],
];

describe('LevelMetaStore: a data directory of the previous release (settings)', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-migrate-'));
    const db = new Level<string, unknown>(dir, { valueEncoding: 'json' });
    await db.batch(previousRelease.map(([key, value]) => ({ type: 'put', key, value })));
    await db.close();
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('opens: every setting is in its named record store, as it was, and no setting is left', async () => {
    const store = await LevelMetaStore.open(dir);
    try {
      assert.deepEqual(await store.records('policies').get('document'), { document, clock });
      assert.deepEqual(await store.records('bindings').get('team/app:v1'), bindings);
      const identities: [string, unknown][] = [];
      for await (const { key, record } of store.records('identities').list()) identities.push([key, record]);
      assert.deepEqual(identities, [
        ['auth/token/ci', token],
        ['auth/user/dev', user],
        ['auth/user/old', gone],
      ]);
    } finally {
      await store.close();
    }
    const db = new Level<string, unknown>(dir, { valueEncoding: 'json' });
    try {
      assert.deepEqual(await db.keys({ gte: 's!', lt: 's"' }).all(), []);
      assert.equal(await db.get('t!team/app!v1'), `sha256:${'c'.repeat(64)}`, 'the rest is untouched');
    } finally {
      await db.close();
    }
  });

  it('serves what the previous release held: the policy (its seed file not applied again), users and tokens, also after a reopen', async () => {
    for (let open = 0; open < 2; open++) {
      const store = await LevelMetaStore.open(dir);
      try {
        const policies = new TrustPolicies(store, new HybridClock('eu'));
        await policies.load({ text: seedText, source: 'policy.json' });
        assert.equal(policies.current.version, `${clock.wallMs}.${clock.logical}@eu`, 'the same file seeds nothing new');
        const ids = new Identities(store, new HybridClock('eu'));
        assert.deepEqual(
          (await ids.listUsers()).map((u) => u.name),
          ['dev'],
        );
        assert.deepEqual(
          (await ids.listTokens()).map((t) => t.name),
          ['ci'],
        );
        const replicated: string[] = [];
        for await (const r of ids.records()) replicated.push(`${r.key} ${r.record}`);
        assert.deepEqual(replicated, [
          `auth/user/dev ${JSON.stringify(user)}`,
          `auth/user/old ${JSON.stringify(gone)}`,
          `auth/token/ci ${JSON.stringify(token)}`,
        ]);
      } finally {
        await store.close();
      }
    }
  });

  it('refuses to open over a setting it does not know, changing nothing', async () => {
    const db = new Level<string, unknown>(dir, { valueEncoding: 'json' });
    await db.put('s!something/else', '1');
    await db.close();
    await assert.rejects(LevelMetaStore.open(dir), /setting this release does not know \(something\/else\): nothing was changed/);
    const again = new Level<string, unknown>(dir, { valueEncoding: 'json' });
    try {
      assert.equal((await again.keys({ gte: 's!', lt: 's"' }).all()).length, previousRelease.length);
    } finally {
      await again.close();
    }
  });
});
