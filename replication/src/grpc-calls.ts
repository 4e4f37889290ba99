import { Metadata, makeGenericClientConstructor, type Server, status as Status, type CallOptions, type ChannelCredentials, type ClientOptions, type ServiceDefinition, type ServiceError, type sendUnaryData } from '@grpc/grpc-js';
import { ErrorTable, isOciError, oci, type ErrorKind, type Logger } from 'georeg/nodes';

/** gRPC status for an error: OCI "unknown" errors are NOT_FOUND, bad input INVALID_ARGUMENT. */
export function grpcError(err: unknown): { code: Status; details: string } {
  if (isOciError(err)) {
    const code = err.status === 404 ? Status.NOT_FOUND : err.status === 416 ? Status.OUT_OF_RANGE : err.status < 500 ? Status.INVALID_ARGUMENT : Status.INTERNAL;
    return { code, details: `${err.kind}: ${err.message}` };
  }
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

/**
 * The error a gRPC failure of the node's region store stands for: the OCI
 * error it carried (as `CODE: message`), else a plain one. Never the gRPC
 * status itself, which would read as the peer's (NOT_FOUND there means content
 * deleted at the source; here it is a local failure).
 */
export function storeError(err: unknown): Error {
  const details = (err as { details?: unknown }).details;
  const m = typeof details === 'string' ? /^([A-Z_]+): (.*)$/s.exec(details) : null;
  if (m && Object.hasOwn(ErrorTable, m[1] as string)) return oci(m[1] as ErrorKind, m[2]);
  return new Error(`region store: ${typeof details === 'string' && details ? details : (err as Error).message}`);
}

/** A generated client's unary method, called with metadata, options and a callback. */
export type UnaryInvoke<Res> = (md: Metadata, options: CallOptions, done: (err: ServiceError | null, res: Res) => void) => unknown;

/** A client's unary call as a promise, with a deadline of `ms`; a failure is passed through `failure` first. */
export function callUnary<Res>(
  invoke: UnaryInvoke<Res>,
  ms: number,
  failure: (err: ServiceError) => unknown = (err) => err,
): Promise<Res> {
  return new Promise((resolve, reject) => invoke(new Metadata(), { deadline: Date.now() + ms }, (err, res) => (err ? reject(failure(err)) : resolve(res))));
}

/** A client class over `definition` (a generated service definition, some methods on hand-written codecs), typed as the generated client. */
export function clientClass<C>(definition: ServiceDefinition, serviceName: string): new (address: string, credentials: ChannelCredentials, options?: Partial<ClientOptions>) => C {
  return makeGenericClientConstructor(definition, serviceName) as unknown as new (address: string, credentials: ChannelCredentials, options?: Partial<ClientOptions>) => C;
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
