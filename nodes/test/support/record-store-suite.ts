/**
 * The behaviour every named record store shows (MetaStore.records), on every
 * MetaStore implementation: register it beside metaStoreSuite with the same factory.
 */
import assert from 'node:assert/strict';
import { RECORD_STORES, type MetaStore, type RecordStore, type RecordStoreName } from '../../src/meta/store.js';

interface Clocked {
  name: string;
  clock: { wallMs: number; logical: number; region: string };
  roles?: string[];
}

const record = (name: string, wallMs = 1): Clocked => ({ name, clock: { wallMs, logical: 0, region: 'eu' } });

async function all<T>(items: AsyncIterable<{ key: string; record: T }>): Promise<[string, T][]> {
  const out: [string, T][] = [];
  for await (const { key, record } of items) out.push([key, record]);
  return out;
}

export function recordStoreSuite(name: string, make: () => Promise<{ store: MetaStore; cleanup: () => Promise<void> }>): void {
  for (const storeName of RECORD_STORES) {
    describe(`${name}: the ${storeName} record store`, () => {
      let meta: MetaStore;
      let cleanup: () => Promise<void>;
      let records: RecordStore<Clocked>;

      beforeEach(async () => {
        ({ store: meta, cleanup } = await make());
        records = meta.records(storeName);
      });
      afterEach(() => cleanup());

      it('stores, replaces and reads back records, with their events in the same write', async () => {
        assert.equal(await records.get('a'), undefined);
        await records.put('a', record('a', 1), { events: [new TextEncoder().encode(storeName)] });
        await records.put('a', { ...record('a', 2), roles: ['pull'] });
        assert.deepEqual(await records.get('a'), { ...record('a', 2), roles: ['pull'] });
        assert.equal(meta.outboxDepth(), 1);
        assert.equal(new TextDecoder().decode((await meta.readOutbox(1))[0]?.event), storeName);
        assert.deepEqual(await meta.listRepositories(), [], 'a record makes no repository');
      });

      it('puts conditionally: `wins` is asked with the record held, and a put it refuses writes nothing, event included', async () => {
        const newer = (wallMs: number) => (held: Clocked | undefined) => held === undefined || held.clock.wallMs < wallMs;
        const asked: (Clocked | undefined)[] = [];
        const first = (held: Clocked | undefined): boolean => (asked.push(held), true);
        assert.equal(await records.put('a', record('a', 5), { wins: first }), true);
        assert.deepEqual(asked, [undefined]);
        const depth = meta.outboxDepth();
        const event = [new TextEncoder().encode('refused')];
        assert.equal(await records.put('a', { ...record('a', 3), roles: ['older'] }, { wins: newer(3), events: event }), false);
        assert.deepEqual(await records.get('a'), record('a', 5), 'the held record stays');
        assert.equal(meta.outboxDepth(), depth, 'no event appended');
        assert.deepEqual(await meta.readOutbox(10), []);
        assert.equal(await records.put('a', record('a', 7), { wins: newer(7), events: [new TextEncoder().encode('kept')] }), true);
        assert.deepEqual(await records.get('a'), record('a', 7));
        assert.equal(new TextDecoder().decode((await meta.readOutbox(10))[0]?.event), 'kept');
      });

      it('compares and writes concurrent conditional puts of one key one at a time: the newest clock is what stays', async () => {
        const newer = (wallMs: number) => (held: Clocked | undefined) => held === undefined || held.clock.wallMs < wallMs;
        const clocks = [4, 9, 2, 7, 1, 8, 3, 6, 5];
        const results = await Promise.all(clocks.map((c) => records.put('k', record(`w${c}`, c), { wins: newer(c) })));
        assert.deepEqual(await records.get('k'), record('w9', 9));
        assert.ok(results[1], 'the newest never loses');
      });

      it('hands out copies: changing what was put or read changes nothing stored', async () => {
        const put = record('a');
        await records.put('a', put);
        put.name = 'changed after put';
        const read = (await records.get('a')) as Clocked;
        read.clock.wallMs = 99;
        assert.deepEqual(await records.get('a'), record('a'));
      });

      it('lists its records by key prefix in key order; without a prefix, all of them', async () => {
        for (const k of ['auth/user/b', 'auth/user/a', 'auth/token/x', 'auth/users', 'team/app:v1']) await records.put(k, record(k));
        assert.deepEqual(
          (await all(records.list('auth/user/'))).map(([k]) => k),
          ['auth/user/a', 'auth/user/b'],
        );
        assert.deepEqual(await all(records.list('auth/user/a')), [['auth/user/a', record('auth/user/a')]]);
        assert.deepEqual(
          (await all(records.list())).map(([k]) => k),
          ['auth/token/x', 'auth/user/a', 'auth/user/b', 'auth/users', 'team/app:v1'],
        );
      });

      it('is a key space of its own: no other named store sees its records, nor it theirs', async () => {
        const others = RECORD_STORES.filter((n) => n !== storeName).map((n: RecordStoreName) => meta.records<Clocked>(n));
        await records.put('shared', record('mine'));
        for (const [i, other] of others.entries()) {
          assert.equal(await other.get('shared'), undefined);
          await other.put('shared', record(`other ${i}`));
        }
        assert.deepEqual(await records.get('shared'), record('mine'));
        assert.deepEqual(await all(records.list()), [['shared', record('mine')]]);
      });
    });
  }
}
