/**
 * THE error table: every OCI error georeg can answer with is declared here once,
 * with its spec code and HTTP status. Domain code throws `OciError`s made from this
 * table; only http/ turns them into `{"errors":[...]}` bodies.
 */
export const ErrorTable = {
  BLOB_UNKNOWN: { code: 'BLOB_UNKNOWN', status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { code: 'BLOB_UPLOAD_INVALID', status: 400, message: 'blob upload invalid' },
  BLOB_UPLOAD_RANGE: { code: 'BLOB_UPLOAD_INVALID', status: 416, message: 'upload chunk out of order' },
  BLOB_UPLOAD_UNKNOWN: { code: 'BLOB_UPLOAD_UNKNOWN', status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { code: 'DIGEST_INVALID', status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: {
    code: 'MANIFEST_BLOB_UNKNOWN',
    status: 404,
    message: 'manifest references a manifest or blob unknown to registry',
  },
  MANIFEST_INVALID: { code: 'MANIFEST_INVALID', status: 400, message: 'manifest invalid' },
  MANIFEST_TOO_LARGE: { code: 'SIZE_INVALID', status: 413, message: 'manifest exceeds the size limit' },
  MANIFEST_UNKNOWN: { code: 'MANIFEST_UNKNOWN', status: 404, message: 'manifest unknown to registry' },
  NAME_INVALID: { code: 'NAME_INVALID', status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { code: 'NAME_UNKNOWN', status: 404, message: 'repository name not known to registry' },
  TAG_INVALID: { code: 'TAG_INVALID', status: 400, message: 'invalid tag' },
  SIZE_INVALID: { code: 'SIZE_INVALID', status: 400, message: 'provided length did not match content length' },
  RANGE_INVALID: { code: 'RANGE_INVALID', status: 416, message: 'requested range not satisfiable' },
  PAGINATION_INVALID: { code: 'PAGINATION_NUMBER_INVALID', status: 400, message: 'invalid number of results requested' },
  UNAUTHORIZED: { code: 'UNAUTHORIZED', status: 401, message: 'authentication required' },
  DENIED: { code: 'DENIED', status: 403, message: 'requested access to the resource is denied' },
  /** georeg's own: a trust policy document that does not validate (admin API). */
  POLICY_INVALID: { code: 'POLICY_INVALID', status: 400, message: 'trust policy invalid' },
  /** georeg's own: an identity (user or token) request that does not validate (admin API). */
  AUTH_INVALID: { code: 'AUTH_INVALID', status: 400, message: 'identity request invalid' },
  AUTH_UNKNOWN: { code: 'AUTH_UNKNOWN', status: 404, message: 'no such user or token' },
  UNSUPPORTED: { code: 'UNSUPPORTED', status: 415, message: 'the operation is unsupported' },
  /** An HTTP request Node's parser refuses (bad request line or header, bad Content-Length): answered from the socket. */
  HTTP_INVALID: { code: 'UNSUPPORTED', status: 400, message: 'malformed HTTP request' },
  HEADERS_TOO_LARGE: { code: 'UNSUPPORTED', status: 431, message: 'request headers too large' },
  HEADERS_TIMEOUT: { code: 'UNSUPPORTED', status: 408, message: 'request headers not received in time' },
  METHOD_NOT_ALLOWED: { code: 'UNSUPPORTED', status: 405, message: 'method not allowed' },
  NOT_FOUND: { code: 'NOT_FOUND', status: 404, message: 'no such route' },
  TOO_MANY_REQUESTS: { code: 'TOOMANYREQUESTS', status: 429, message: 'too many requests' },
  UNAVAILABLE: { code: 'UNAVAILABLE', status: 503, message: 'service unavailable' },
  INTERNAL: { code: 'UNKNOWN', status: 500, message: 'internal error' },
} as const satisfies Record<string, { code: string; status: number; message: string }>;

export type ErrorKind = keyof typeof ErrorTable;

export class OciError extends Error {
  readonly kind: ErrorKind;
  readonly code: string;
  readonly status: number;
  readonly detail: unknown;
  /** Response headers the error needs (a 401's WWW-Authenticate, a 429's Retry-After). */
  headers: Record<string, string> = {};

  constructor(kind: ErrorKind, message?: string, detail?: unknown, options?: { cause?: unknown }) {
    const entry = ErrorTable[kind];
    super(message ?? entry.message, options);
    this.name = 'OciError';
    this.kind = kind;
    this.code = entry.code;
    this.status = entry.status;
    this.detail = detail;
  }

  toBody(): { errors: { code: string; message: string; detail: unknown }[] } {
    return { errors: [{ code: this.code, message: this.message, detail: this.detail ?? null }] };
  }
}

/** Shorthand: `throw oci('BLOB_UNKNOWN', undefined, { digest })`. */
export function oci(kind: ErrorKind, message?: string, detail?: unknown): OciError {
  return new OciError(kind, message, detail);
}

export function isOciError(e: unknown, kind?: ErrorKind): e is OciError {
  return e instanceof OciError && (kind === undefined || e.kind === kind);
}
