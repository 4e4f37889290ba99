import pg from 'pg';
import { LEASES, type Lease, type LeaseName } from './lease.js';
import { LOCK_CLASS } from './pg-transaction.js';
import { databaseError } from './pg-unreachable.js';

/** How a held lease keeps sure of its connection (ms). */
export interface LeaseHeartbeat {
  /** A heartbeat query this long after the last one answered. */
  everyMs: number;
  /** An answer not had in this long (as any query of the lease's connection) loses the lease. */
  timeoutMs: number;
  /** PostgreSQL ends the lease's session once it has been idle this long (`idle_session_timeout`), releasing the lock. */
  sessionIdleMs: number;
}

export const LEASE_HEARTBEAT: LeaseHeartbeat = { everyMs: 1000, timeoutMs: 1000, sessionIdleMs: 5000 };

/**
 * A lease of PgMetaStore: a session-level advisory lock (`LOCK_CLASS.lease`, the lease's index),
 * held on a connection of its own for as long as the lease lasts. A node that dies, or whose
 * connection breaks, loses it with the connection: the server releases the lock, and the next
 * node that asks takes it (the publisher asks every second).
 *
 * A holder cut off from the database without a word (a partition drops packets) would learn it
 * only from TCP keepalives, minutes later; so the connection runs `SELECT 1` every `everyMs`, and
 * an error, or no answer within `timeoutMs`, marks the lease lost (`held` false, `gone` resolved)
 * and closes the connection: the holder knows within everyMs + timeoutMs (2 s) of the last answer.
 * On the other side, the session is idle between heartbeats, and PostgreSQL ends one idle for
 * `sessionIdleMs` (5 s, PostgreSQL 14 or later): a silent holder's lock goes free 5 s after its
 * last heartbeat reached the server, after the holder knew it lost the lease. Keepalives from 10 s
 * remain for a server that stays silent with the connection up.
 */
export async function pgLease(connectionString: string, name: LeaseName, heartbeat = LEASE_HEARTBEAT): Promise<Lease | undefined> {
  const client = new pg.Client({
    connectionString,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    connectionTimeoutMillis: 5000,
    query_timeout: heartbeat.timeoutMs,
  });
  let held = false;
  let beat: NodeJS.Timeout | undefined;
  let ended!: () => void;
  const gone = new Promise<void>((resolve) => (ended = resolve));
  const lose = (): void => {
    held = false;
    clearTimeout(beat);
    ended();
  };
  client.on('error', lose);
  client.on('end', lose);
  const key = [LOCK_CLASS.lease, LEASES.indexOf(name)];
  try {
    await client.connect();
    const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', key);
    held = rows[0]?.ok === true;
    // PostgreSQL 14 and later end a silent holder's session (idle_session_timeout); before 14, TCP keepalives do, later.
    if (held) {
      await client.query(
        `DO $$ BEGIN IF current_setting('server_version_num')::int >= 140000 THEN SET idle_session_timeout = ${Math.round(heartbeat.sessionIdleMs)}; END IF; END $$`,
      );
    }
  } catch (e) {
    await client.end().catch(() => undefined);
    throw databaseError(e);
  }
  if (!held) {
    await client.end();
    return undefined;
  }
  const next = (): void => {
    beat = setTimeout(() => {
      client.query('SELECT 1').then(
        () => held && next(),
        () => {
          lose();
          void client.end().catch(() => undefined); // the server ends the session, and its lock, when it hears of it or it idles out
        },
      );
    }, heartbeat.everyMs);
    beat.unref();
  };
  next();
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
