import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestDatabase, poll, startTcpProxy, type TestDatabase } from 'georeg/test-support';
import { PgMetaStore } from '../../src/meta/pg-store.js';
import { LEASE_HEARTBEAT } from '../../src/meta/pg-lease.js';
import { LOCK_CLASS } from '../../src/meta/pg-transaction.js';

describe('PgMetaStore leases: a holder cut off without a word', function () {
  this.timeout(30_000);
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(() => db?.drop());

  it('learns it lost the lease within its heartbeat, and another node takes it once PostgreSQL ends the silent session', async () => {
    const url = await db.schema();
    const proxy = await startTcpProxy(db.url);
    // The holder reaches the database through the proxy; the other node directly.
    const holder = await PgMetaStore.open(proxy.via(url));
    const other = await PgMetaStore.open(url);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      const lease = await holder.tryLease('outbox');
      assert.ok(lease?.held);
      assert.equal(await other.tryLease('outbox'), undefined, 'held by the holder');
      // Beats reach the server while the network carries them: the lease's session runs SELECT 1 again and again.
      const beats = new Set<string>();
      await poll(5 * LEASE_HEARTBEAT.everyMs, 'three heartbeats', async () => {
        const { rows } = await admin.query<{ query: string; at: string }>(
          `SELECT a.query, a.query_start::text AS at FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
           WHERE l.locktype = 'advisory' AND l.classid = $1::bigint::oid AND l.granted`,
          [LOCK_CLASS.lease],
        );
        if (rows[0]?.query === 'SELECT 1') beats.add(rows[0].at);
        return beats.size >= 3 || undefined;
      });
      assert.ok(lease.held, 'held across heartbeats');

      proxy.freeze(); // no byte passes either way, no connection closes: a partition
      const frozenAt = Date.now();
      await lease.gone;
      const lostAfter = Date.now() - frozenAt;
      assert.equal(lease.held, false);
      assert.ok(lostAfter <= LEASE_HEARTBEAT.everyMs + LEASE_HEARTBEAT.timeoutMs + 500, `lost after ${lostAfter} ms`);

      const taken = await poll(LEASE_HEARTBEAT.sessionIdleMs + 5000, 'the other node taking the lease', () => other.tryLease('outbox'));
      const takenAfter = Date.now() - frozenAt;
      assert.ok(taken.held);
      assert.ok(takenAfter > lostAfter, 'never before the holder knew');
      assert.ok(takenAfter <= LEASE_HEARTBEAT.everyMs + LEASE_HEARTBEAT.sessionIdleMs + 1000, `taken after ${takenAfter} ms`);
      await taken.release();
    } finally {
      await admin.end();
      await proxy.cut();
      await holder.close();
      await other.close();
    }
  });
});
