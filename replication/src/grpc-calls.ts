import {
  Metadata,
  makeGenericClientConstructor,
  type Server,
  status as Status,
  type CallOptions,
  type ChannelCredentials,
  type ClientOptions,
  type ServiceDefinition,
  type ServiceError,
  type sendUnaryData,
} from '@grpc/grpc-js';
import type { Logger } from 'georeg/nodes';
import { ErrorTable, isErrorKind, isOciError, oci, type ErrorKind } from 'georeg/oci';

/** Trailing metadata naming the OCI error (its ErrorTable kind) a failed call stands for. */
export const ERROR_KIND = 'georeg-error-kind';

/**
 * gRPC status for an error: an OCI error's, from the error table's gRPC column, with its kind in
 * the trailers (ERROR_KIND). Its details still begin `KIND: ` for a replicate process of the
 * previous release, which reads the kind there: drop that prefix in the next release.
 */
export function grpcError(err: unknown): { code: Status; details: string; metadata?: Metadata } {
  if (isOciError(err)) {
    const metadata = new Metadata();
    metadata.set(ERROR_KIND, err.kind);
    return { code: Status[ErrorTable[err.kind].grpc], details: `${err.kind}: ${err.message}`, metadata };
  }
  // A request out of bounds (a digest tree path, too many at once): the caller's to fix.
  if (err instanceof RangeError) return { code: Status.INVALID_ARGUMENT, details: err.message };
  return { code: Status.INTERNAL, details: 'internal error' };
}

export function unary<Req, Res>(log: Logger, fn: (req: Req) => Promise<Res>) {
  return (call: { request: Req }, callback: sendUnaryData<Res>): void => {
    fn(call.request).then(
      (res) => callback(null, res),
      (err: unknown) => {
        if (!isOciError(err)) log.error('replication call failed', { err });
        callback(grpcError(err));
      },
    );
  };
}

/** The kind and message a node of the previous release sent as `KIND: message` details (no ERROR_KIND trailer). */
function previousReleaseError(details: string): { kind: ErrorKind; message: string } | undefined {
  const m = /^([A-Z_]+): (.*)$/s.exec(details);
  return m && isErrorKind(m[1]) ? { kind: m[1], message: m[2] as string } : undefined;
}

/**
 * The error a gRPC failure of the node's region store stands for: the OCI
 * error named by its ERROR_KIND trailer (or, from a node of the previous
 * release, by its details' `KIND: ` prefix), else a plain one. Never the gRPC
 * status itself, which would read as the peer's (NOT_FOUND there means content
 * deleted at the source; here it is a local failure).
 */
export function storeError(err: unknown): Error {
  const { details, metadata } = err as Partial<ServiceError>;
  const text = typeof details === 'string' ? details : '';
  const kind = metadata?.get(ERROR_KIND)[0];
  if (isErrorKind(kind)) return oci(kind, text.startsWith(`${kind}: `) ? text.slice(kind.length + 2) : text);
  const previous = previousReleaseError(text);
  if (previous) return oci(previous.kind, previous.message);
  return new Error(`region store: ${text || (err as Error).message}`);
}

/** A generated client's unary method, called with metadata, options and a callback. */
export type UnaryInvoke<Res> = (md: Metadata, options: CallOptions, done: (err: ServiceError | null, res: Res) => void) => unknown;

/** undefined for a call the other side does not implement (a release before it); anything else is thrown (as `failure` makes it). */
export function unimplemented(err: unknown, failure: (err: ServiceError) => unknown = (e) => e): undefined {
  if ((err as { code?: unknown }).code === Status.UNIMPLEMENTED) return undefined;
  throw failure(err as ServiceError);
}

/** A client's unary call as a promise, with a deadline of `ms`; a failure is passed through `failure` first. */
export function callUnary<Res>(invoke: UnaryInvoke<Res>, ms: number, failure: (err: ServiceError) => unknown = (err) => err): Promise<Res> {
  return new Promise((resolve, reject) =>
    invoke(new Metadata(), { deadline: Date.now() + ms }, (err, res) => (err ? reject(failure(err)) : resolve(res))),
  );
}

/** A client class over `definition` (a generated service definition, some methods on hand-written codecs), typed as the generated client. */
export function clientClass<C>(
  definition: ServiceDefinition,
  serviceName: string,
): new (address: string, credentials: ChannelCredentials, options?: Partial<ClientOptions>) => C {
  return makeGenericClientConstructor(definition, serviceName) as unknown as new (
    address: string,
    credentials: ChannelCredentials,
    options?: Partial<ClientOptions>,
  ) => C;
}

/** How long a stopping server lets calls in progress finish before it cuts them. */
export const SHUTDOWN_GRACE_MS = 2000;

/**
 * Stop a gRPC server: no new calls, and those in progress (a peer copying a
 * large blob, or one that stopped reading) are cut after `graceMs`. A cut copy
 * loses nothing: the peer resumes from what it staged.
 */
export async function shutdown(server: Server, graceMs = SHUTDOWN_GRACE_MS): Promise<void> {
  const cut = setTimeout(() => server.forceShutdown(), graceMs);
  await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  clearTimeout(cut);
}
