import pg from 'pg';
import { LEASES, type Lease, type LeaseName } from './lease.js';
import { LOCK_CLASS } from './pg-transaction.js';

/**
 * A lease of PgMetaStore: a session-level advisory lock (`LOCK_CLASS.lease`, the lease's index),
 * held on a connection of its own for as long as the lease lasts. A node that dies, or whose
 * connection breaks, loses it with the connection: the server releases the lock, and the next
 * node that asks takes it (the publisher asks every second). The connection is kept alive by TCP
 * keepalives, and its error or end marks the lease lost here.
 */
export async function pgLease(connectionString: string, name: LeaseName): Promise<Lease | undefined> {
  // Keepalives from 10 s on (the OS default waits two hours before the first): a holder cut off from
  // the database learns it lost the lease within the OS's probe count and interval, minutes rather
  // than hours. Until then it may still publish beside the new holder: JetStream's dedupe by event
  // id keeps that from duplicating events, not from interleaving them.
  const client = new pg.Client({ connectionString, keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
  let held = false;
  let ended!: () => void;
  const gone = new Promise<void>((resolve) => (ended = resolve));
  const lose = (): void => {
    held = false;
    ended();
  };
  client.on('error', lose);
  client.on('end', lose);
  await client.connect();
  const key = [LOCK_CLASS.lease, LEASES.indexOf(name)];
  try {
    const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', key);
    held = rows[0]?.ok === true;
  } catch (e) {
    await client.end().catch(() => undefined);
    throw e;
  }
  if (!held) {
    await client.end();
    return undefined;
  }
  return {
    get held() {
      return held;
    },
    gone,
    async release() {
      if (!held) return;
      lose();
      await client.end(); // the session's advisory locks go with it
    },
  };
}
