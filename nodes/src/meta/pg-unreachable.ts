import { OciError } from 'georeg/oci';

/**
 * Error codes of a database that cannot be reached or takes no request now: SQLSTATE class 08
 * (connection exception, matched by prefix), an administrator's or a crash's shutdown (57P01,
 * 57P02), a server starting up (57P03), too many connections (53300), and the socket's own.
 */
const CODES = new Set([
  '57P01',
  '57P02',
  '57P03',
  '53300',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
/** What pg and pg-pool throw, without a code, for a connection that broke, was not had in time, or went silent. */
const MESSAGES =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout)/;

/** Whether `err` says the database was out of reach (not that a query was wrong). */
export function unreachable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (code.startsWith('08') || CODES.has(code))) return true;
  return MESSAGES.test(err.message);
}

/**
 * What PgMetaStore throws for a failure of the database: UNAVAILABLE (503, Retry-After) when it was
 * out of reach, so clients and load balancers retry rather than see an internal error; else `err`.
 */
export function databaseError(err: unknown): unknown {
  if (!unreachable(err)) return err;
  const e = new OciError('UNAVAILABLE', 'the metadata database is unreachable: try again shortly', undefined, { cause: err });
  e.headers['Retry-After'] = '1';
  return e;
}
