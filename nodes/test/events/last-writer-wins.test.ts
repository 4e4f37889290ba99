import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Identities } from '../../src/auth/identities.js';
import { compareHlc, HybridClock, type HlcTimestamp } from '../../src/hlc.js';
import { LevelMetaStore } from '../../src/meta/level-store.js';
import { TrustPolicies } from '../../src/trust/policies.js';

/** Enough rounds that an unserialised read-compare-write loses some of them. */
const ROUNDS = 30;
/** A password hash of the shape validRecord accepts (never checked against a password here). */
const HASH = `scrypt$${2 ** 15}$8$1$${Buffer.alloc(16).toString('base64')}$${Buffer.alloc(32).toString('base64')}`;

const user = (name: string, created: number): string => JSON.stringify({ name, password: HASH, admin: false, disabled: false, created });
const policy = (glob: string): string => JSON.stringify({ keys: [], policies: [{ repositories: [glob], mode: 'off' }] });

/** Two stamps from other regions, `newer` the later, both ahead of this region's clock (within the skew allowed). */
function pair(round: number): { older: HlcTimestamp; newer: HlcTimestamp } {
  const wallMs = Date.now() + 1000 + 2 * round;
  return { older: { wallMs, logical: 0, region: 'older' }, newer: { wallMs: wallMs + 1, logical: 0, region: 'newer' } };
}

describe('last writer wins, one change of a key at a time', () => {
  let dir: string;
  let meta: LevelMetaStore;
  let hlc: HybridClock;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'georeg-lww-'));
    meta = await LevelMetaStore.open(dir);
    hlc = new HybridClock('here');
  });

  afterEach(async () => {
    await meta.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** The record a store holds under `key`. */
  const held = async (store: 'identities' | 'policies', key: string): Promise<{ clock: HlcTimestamp } & Record<string, unknown>> =>
    (await meta.records<{ clock: HlcTimestamp } & Record<string, unknown>>(store).get(key)) ?? assert.fail(`no ${store} ${key}`);

  it('keeps the newer of two concurrent replicated writes of one identity, whichever starts first', async () => {
    const ids = new Identities(meta, hlc);
    for (let round = 0; round < ROUNDS; round++) {
      const name = `dev-${round}`;
      const { older, newer } = pair(round);
      const writes = [
        () => ids.applyReplicated(`auth/user/${name}`, user(name, 2), newer),
        () => ids.applyReplicated(`auth/user/${name}`, user(name, 1), older),
      ];
      // Newer first is the order an unserialised read-compare-write loses: both read nothing, the older lands last.
      const [first, second] = round % 2 === 0 ? writes : writes.reverse();
      const kept = await Promise.all([first!(), second!()]);
      const stored = await held('identities', `auth/user/${name}`);
      assert.deepEqual(stored.clock, newer, `round ${round}`);
      assert.equal(stored.created, 2, `round ${round}`);
      assert.equal(
        kept.filter(Boolean).length,
        round % 2 === 0 ? 1 : 2,
        `round ${round}: the older one is refused only when it comes second`,
      );
    }
  });

  it('keeps the newer of two concurrent replicated policy documents, whichever starts first', async () => {
    const policies = new TrustPolicies(meta, hlc);
    for (let round = 0; round < ROUNDS; round++) {
      const { older, newer } = pair(round);
      const writes = [
        () => policies.applyReplicated(policy(`new-${round}/**`), newer),
        () => policies.applyReplicated(policy(`old-${round}/**`), older),
      ];
      const [first, second] = round % 2 === 0 ? writes : writes.reverse();
      await Promise.all([first!(), second!()]);
      const stored = await held('policies', 'document');
      assert.deepEqual(stored.clock, newer, `round ${round}`);
      assert.equal(policies.current.version, `${newer.wallMs}.0@newer`, `round ${round}: what is held in memory is what is stored`);
      assert.equal(policies.current.trust.document.policies[0]?.repositories[0], `new-${round}/**`);
    }
  });

  it('orders a local change and a concurrent replicated one: the stored record is never older than either', async () => {
    const ids = new Identities(meta, hlc);
    await ids.addUser('ops', 'a long enough password', false);
    for (let round = 0; round < ROUNDS; round++) {
      // A peer's change stamped ahead of ours (odd rounds) or behind (even rounds).
      const base = (await held('identities', 'auth/user/ops')).clock;
      const at = { wallMs: base.wallMs + (round % 2 ? 1000 : -1000), logical: 0, region: 'peer' };
      const local = () => ids.setUser('ops', { disabled: true });
      const replicated = () => ids.applyReplicated('auth/user/ops', user('ops', round), at);
      await (round % 4 < 2 ? Promise.all([local(), replicated()]) : Promise.all([replicated(), local()]));
      const stored = await held('identities', 'auth/user/ops');
      assert.ok(
        compareHlc(stored.clock, at) >= 0,
        `round ${round}: ${JSON.stringify(stored.clock)} is older than the replicated ${JSON.stringify(at)}`,
      );
      assert.ok(compareHlc(stored.clock, base) > 0, `round ${round}: the local change orders after the record it replaced`);
      assert.equal(stored.disabled, stored.clock.region === 'here', `round ${round}: the stored content is the change its clock names`);
    }
  });

  it("makes a local change from the record held when it is written: a peer's change replicated meanwhile is kept", async () => {
    const ids = new Identities(meta, hlc);
    await ids.addUser('bob', 'bobs first password', false, { roles: [{ repositories: ['team/**'], roles: ['push'] }] });
    // A password change hashes for tens of milliseconds; a peer disables bob and drops his roles meanwhile.
    const changing = ids.setUser('bob', { password: 'bobs second password' });
    const disabled = { ...(JSON.parse(user('bob', 1)) as object), disabled: true, roles: [] };
    assert.equal(
      await ids.applyReplicated('auth/user/bob', JSON.stringify(disabled), { wallMs: Date.now(), logical: 0, region: 'peer' }),
      true,
    );
    const view = await changing;
    assert.deepEqual([view.disabled, view.roles], [true, []], "the peer's disable and roles survive the local password change");
    assert.equal(await ids.login('bob', 'bobs second password'), undefined, 'disabled');
  });
});
