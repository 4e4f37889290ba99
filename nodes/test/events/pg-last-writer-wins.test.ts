import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from 'georeg/test-support';
import { HybridClock, type HlcTimestamp } from '../../src/hlc.js';
import { LastWriterWins } from '../../src/events/last-writer-wins.js';
import { PgMetaStore } from '../../src/meta/pg-store.js';
import { Locks } from '../../src/registry/locks.js';

/** Enough rounds that a compare outside the database's step loses some of them. */
const ROUNDS = 40;

describe('last writer wins across the nodes of a region sharing one PostgreSQL database', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let a: PgMetaStore;
  let b: PgMetaStore;

  before(async () => {
    db = await createTestDatabase();
  });
  after(() => db?.drop());
  beforeEach(async () => {
    const url = await db.schema();
    [a, b] = [await PgMetaStore.open(url), await PgMetaStore.open(url)];
  });
  afterEach(async () => {
    await a.close();
    await b.close();
  });

  it('keeps the newest clock whichever node writes last: concurrent replicated puts of one key, many times', async () => {
    // Each node its own LastWriterWins (its own per-process lock), as two processes have.
    const nodes = [a, b].map((s) => new LastWriterWins(s.records('identities'), new HybridClock('eu')));
    for (let round = 0; round < ROUNDS; round++) {
      const key = `auth/user/u${round}`;
      const wallMs = Date.now();
      const clocks: HlcTimestamp[] = [0, 1, 2, 3].map((i) => ({ wallMs: wallMs + i, logical: 0, region: 'us' }));
      // Newest first half the time: the order a read-compare-write outside the database's step gets wrong.
      const order = round % 2 === 0 ? [3, 0, 2, 1] : [0, 3, 1, 2];
      const applied = await Promise.all(
        order.map((i, n) => nodes[n % 2]!.apply(key, { name: `u${round}`, version: i }, clocks[i] as HlcTimestamp)),
      );
      assert.equal(applied[order.indexOf(3)], 'stored', `round ${round}: the newest is stored`);
      for (const s of [a, b]) {
        const held = await s.records<{ version: number; clock: HlcTimestamp }>('identities').get(key);
        assert.deepEqual(held, { name: `u${round}`, version: 3, clock: clocks[3] }, `round ${round}`);
      }
    }
  });

  it('loses no local change: concurrent lock changes through two nodes both land, each made from the other', async () => {
    const [la, lb] = [a, b].map((s) => new Locks(s, new HybridClock('eu')));
    for (let round = 0; round < ROUNDS / 4; round++) {
      const target = { repository: `team/app${round}` };
      await Promise.all([la!.update(target, { deleteEnabled: false }), lb!.update(target, { writeEnabled: false })]);
      for (const s of [a, b]) {
        const held = await s.records<{ attributes: object }>('locks').get(target.repository);
        assert.deepEqual(held?.attributes, { deleteEnabled: false, writeEnabled: false }, `round ${round}`);
      }
    }
  });
});
