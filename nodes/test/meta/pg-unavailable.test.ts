import assert from 'node:assert/strict';
import pg from 'pg';
import { isOciError } from 'georeg/oci';
import { createTestDatabase, poll, startTcpProxy, type TestDatabase } from 'georeg/test-support';
import { PgMetaStore } from '../../src/meta/pg-store.js';
import { LOCK_CLASS } from '../../src/meta/pg-transaction.js';
import { manifest } from '../support/meta-suite.js';

/** The store's error for a database out of reach: UNAVAILABLE with a Retry-After, its cause the driver's error. */
function unavailable(cause: (e: unknown) => boolean) {
  return (e: unknown): boolean => {
    assert.ok(isOciError(e, 'UNAVAILABLE'), `expected UNAVAILABLE, got ${String(e)}`);
    assert.match(e.message, /the metadata database is unreachable/);
    assert.equal(e.status, 503);
    assert.equal(e.headers['Retry-After'], '1');
    assert.ok(cause(e.cause), `cause: ${String(e.cause)}`);
    return true;
  };
}

describe('PgMetaStore with its database out of reach', function () {
  this.timeout(30_000);
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(() => db?.drop());

  it('fails a change whose connection an administrator terminates (57P01) with UNAVAILABLE', async () => {
    const url = await db.schema();
    const store = await PgMetaStore.open(url);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      // The change waits for its repository's lock, held here, until its backend is terminated.
      await admin.query('SELECT pg_advisory_lock($1, hashtext($2))', [LOCK_CLASS.repository, 'r']);
      const change = store.putManifest('r', manifest('m'), 'v1');
      const waiting = await poll(5000, 'the change waiting for the lock', async () => {
        const { rows } = await admin.query<{ pid: number }>(
          "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::bigint::oid AND NOT granted",
          [LOCK_CLASS.repository],
        );
        return rows[0]?.pid;
      });
      await admin.query('SELECT pg_terminate_backend($1)', [waiting]);
      await assert.rejects(
        change,
        unavailable((c) => (c as { code?: string }).code === '57P01'),
      );
      await admin.query('SELECT pg_advisory_unlock_all()');
      assert.equal(await store.getTag('r', 'v1'), undefined, 'nothing was written; the store serves again once it reaches the database');
    } finally {
      await admin.end();
      await store.close();
    }
  });

  it('fails reads, changes, listings and leases with UNAVAILABLE once its connections are cut and refused', async () => {
    const proxy = await startTcpProxy(db.url);
    const store = await PgMetaStore.open(proxy.via(await db.schema()));
    try {
      await store.putManifest('r', manifest('m'), 'v1');
      await proxy.cut();
      const refused = (c: unknown): boolean => /ECONNREFUSED|Connection terminated/.test(String((c as Error).message));
      await assert.rejects(store.getTag('r', 'v1'), unavailable(refused));
      await assert.rejects(store.putManifest('r', manifest('n'), 'v2'), unavailable(refused));
      await assert.rejects(store.records('locks').put('r', { attributes: {} }), unavailable(refused));
      await assert.rejects(store.listTagClocks('r')[Symbol.asyncIterator]().next(), unavailable(refused));
      await assert.rejects(store.tryLease('gc'), unavailable(refused));
      assert.equal(store.outboxDepth(), 0, 'the depth answers the last figure');
    } finally {
      await store.close();
    }
  });

  it('fails a query on a connection gone silent (a partition) with UNAVAILABLE once its time is up, not minutes later', async () => {
    const proxy = await startTcpProxy(db.url);
    const store = await PgMetaStore.open(proxy.via(await db.schema()), { queryTimeoutMs: 500 });
    try {
      await store.putManifest('r', manifest('m'), 'v1');
      proxy.freeze();
      const started = Date.now();
      await assert.rejects(
        store.getTag('r', 'v1'),
        unavailable((c) => /Query read timeout/.test(String((c as Error).message))),
      );
      assert.ok(Date.now() - started < 5000, `failed after ${Date.now() - started} ms`);
    } finally {
      await proxy.cut();
      await store.close();
    }
  });
});
