/** The gRPC status codes (by their names in grpc-js's `status`) an OCI error crosses gRPC as. */
export type GrpcCode = 'INVALID_ARGUMENT' | 'NOT_FOUND' | 'OUT_OF_RANGE' | 'INTERNAL';

/**
 * THE error table: every OCI error georeg can answer with is declared here once, with its spec
 * code, HTTP status, message and the gRPC status it crosses gRPC as (its kind travels beside it,
 * in metadata). Domain code throws `OciError`s made from this table; only http/ turns them into
 * `{"errors":[...]}` bodies, and `OciError.fromBody` turns such a body back into the same error.
 * No two kinds share a code and an HTTP status, so the pair names the kind.
 */
export const ErrorTable = {
  BLOB_UNKNOWN: { code: 'BLOB_UNKNOWN', status: 404, message: 'blob unknown to registry', grpc: 'NOT_FOUND' },
  BLOB_UPLOAD_INVALID: { code: 'BLOB_UPLOAD_INVALID', status: 400, message: 'blob upload invalid', grpc: 'INVALID_ARGUMENT' },
  BLOB_UPLOAD_RANGE: { code: 'BLOB_UPLOAD_INVALID', status: 416, message: 'upload chunk out of order', grpc: 'OUT_OF_RANGE' },
  BLOB_UPLOAD_UNKNOWN: { code: 'BLOB_UPLOAD_UNKNOWN', status: 404, message: 'blob upload unknown to registry', grpc: 'NOT_FOUND' },
  DIGEST_INVALID: {
    code: 'DIGEST_INVALID',
    status: 400,
    message: 'provided digest did not match uploaded content',
    grpc: 'INVALID_ARGUMENT',
  },
  MANIFEST_BLOB_UNKNOWN: {
    code: 'MANIFEST_BLOB_UNKNOWN',
    status: 404,
    message: 'manifest references a manifest or blob unknown to registry',
    grpc: 'NOT_FOUND',
  },
  MANIFEST_INVALID: { code: 'MANIFEST_INVALID', status: 400, message: 'manifest invalid', grpc: 'INVALID_ARGUMENT' },
  MANIFEST_TOO_LARGE: { code: 'SIZE_INVALID', status: 413, message: 'manifest exceeds the size limit', grpc: 'INVALID_ARGUMENT' },
  MANIFEST_UNKNOWN: { code: 'MANIFEST_UNKNOWN', status: 404, message: 'manifest unknown to registry', grpc: 'NOT_FOUND' },
  NAME_INVALID: { code: 'NAME_INVALID', status: 400, message: 'invalid repository name', grpc: 'INVALID_ARGUMENT' },
  NAME_UNKNOWN: { code: 'NAME_UNKNOWN', status: 404, message: 'repository name not known to registry', grpc: 'NOT_FOUND' },
  TAG_INVALID: { code: 'TAG_INVALID', status: 400, message: 'invalid tag', grpc: 'INVALID_ARGUMENT' },
  SIZE_INVALID: { code: 'SIZE_INVALID', status: 400, message: 'provided length did not match content length', grpc: 'INVALID_ARGUMENT' },
  RANGE_INVALID: { code: 'RANGE_INVALID', status: 416, message: 'requested range not satisfiable', grpc: 'OUT_OF_RANGE' },
  PAGINATION_INVALID: {
    code: 'PAGINATION_NUMBER_INVALID',
    status: 400,
    message: 'invalid number of results requested',
    grpc: 'INVALID_ARGUMENT',
  },
  UNAUTHORIZED: { code: 'UNAUTHORIZED', status: 401, message: 'authentication required', grpc: 'INVALID_ARGUMENT' },
  DENIED: { code: 'DENIED', status: 403, message: 'requested access to the resource is denied', grpc: 'INVALID_ARGUMENT' },
  /** georeg's own: a trust policy document that does not validate (admin API). */
  POLICY_INVALID: { code: 'POLICY_INVALID', status: 400, message: 'trust policy invalid', grpc: 'INVALID_ARGUMENT' },
  /** georeg's own: an identity (user or token) request that does not validate (admin API). */
  AUTH_INVALID: { code: 'AUTH_INVALID', status: 400, message: 'identity request invalid', grpc: 'INVALID_ARGUMENT' },
  AUTH_UNKNOWN: { code: 'AUTH_UNKNOWN', status: 404, message: 'no such user or token', grpc: 'NOT_FOUND' },
  /** georeg's own: a user or token request to a node with authentication off. */
  AUTH_OFF: { code: 'AUTH_OFF', status: 404, message: 'authentication is off on this node', grpc: 'NOT_FOUND' },
  /** georeg's own: a routing request (drain, undrain) that does not validate (admin API). */
  ROUTING_INVALID: { code: 'ROUTING_INVALID', status: 400, message: 'routing request invalid', grpc: 'INVALID_ARGUMENT' },
  /** A repository, tag or manifest whose lock (ACR's changeable attributes) refuses the write, delete or read asked: 423 Locked. */
  LOCKED: { code: 'DENIED', status: 423, message: 'locked', grpc: 'INVALID_ARGUMENT' },
  /** georeg's own: changeable attributes (PATCH /acr/v1/...) that do not validate. */
  ATTRIBUTES_INVALID: { code: 'ATTRIBUTES_INVALID', status: 400, message: 'changeable attributes invalid', grpc: 'INVALID_ARGUMENT' },
  UNSUPPORTED: { code: 'UNSUPPORTED', status: 415, message: 'the operation is unsupported', grpc: 'INVALID_ARGUMENT' },
  /** An HTTP request Node's parser refuses (bad request line or header, bad Content-Length): answered from the socket. */
  HTTP_INVALID: { code: 'UNSUPPORTED', status: 400, message: 'malformed HTTP request', grpc: 'INVALID_ARGUMENT' },
  HEADERS_TOO_LARGE: { code: 'UNSUPPORTED', status: 431, message: 'request headers too large', grpc: 'INVALID_ARGUMENT' },
  HEADERS_TIMEOUT: { code: 'UNSUPPORTED', status: 408, message: 'request headers not received in time', grpc: 'INVALID_ARGUMENT' },
  METHOD_NOT_ALLOWED: { code: 'UNSUPPORTED', status: 405, message: 'method not allowed', grpc: 'INVALID_ARGUMENT' },
  NOT_FOUND: { code: 'NOT_FOUND', status: 404, message: 'no such route', grpc: 'NOT_FOUND' },
  TOO_MANY_REQUESTS: { code: 'TOOMANYREQUESTS', status: 429, message: 'too many requests', grpc: 'INVALID_ARGUMENT' },
  UNAVAILABLE: { code: 'UNAVAILABLE', status: 503, message: 'service unavailable', grpc: 'INTERNAL' },
  INTERNAL: { code: 'UNKNOWN', status: 500, message: 'internal error', grpc: 'INTERNAL' },
} as const satisfies Record<string, { code: string; status: number; message: string; grpc: GrpcCode }>;

export type ErrorKind = keyof typeof ErrorTable;

export function isErrorKind(kind: unknown): kind is ErrorKind {
  return typeof kind === 'string' && Object.hasOwn(ErrorTable, kind);
}

/** An OCI error body, as the distribution spec writes it. */
export interface ErrorBody {
  errors: { code: string; message: string; detail: unknown }[];
}

/** The kind by `<code> <status>` of its answer. */
const KINDS = new Map<string, ErrorKind>(Object.entries(ErrorTable).map(([kind, e]) => [`${e.code} ${e.status}`, kind as ErrorKind]));

/** The first error of an OCI error body (from any registry, whatever its code); undefined when the body is not one. */
export function firstError(body: unknown): { code: string; message?: string; detail?: unknown } | undefined {
  const errors = typeof body === 'object' && body !== null ? (body as { errors?: unknown }).errors : undefined;
  const first: unknown = Array.isArray(errors) ? errors[0] : undefined;
  if (typeof first !== 'object' || first === null) return undefined;
  const { code, message, detail } = first as Record<string, unknown>;
  if (typeof code !== 'string') return undefined;
  return { code, ...(typeof message === 'string' && { message }), ...(detail !== undefined && detail !== null && { detail }) };
}

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

  toBody(): ErrorBody {
    return { errors: [{ code: this.code, message: this.message, detail: this.detail ?? null }] };
  }

  /**
   * The error an answer of `status` with `body` (a parsed OCI error body) stands for: the kind its
   * first error's code and the status name in the table, with that error's message and detail.
   * Undefined when the body is not an OCI error body or names no kind of the table (another
   * registry's code, or a code at a status georeg never answers it with).
   */
  static fromBody(status: number, body: unknown): OciError | undefined {
    const first = firstError(body);
    const kind = first && KINDS.get(`${first.code} ${status}`);
    return kind && first ? new OciError(kind, first.message, first.detail) : undefined;
  }
}

/** Shorthand: `throw oci('BLOB_UNKNOWN', undefined, { digest })`. */
export function oci(kind: ErrorKind, message?: string, detail?: unknown): OciError {
  return new OciError(kind, message, detail);
}

export function isOciError(e: unknown, kind?: ErrorKind): e is OciError {
  return e instanceof OciError && (kind === undefined || e.kind === kind);
}
