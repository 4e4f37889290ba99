import { STATUS_CODES, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Logger } from '../log.js';
import { isOciError, oci, type OciError } from 'georeg/oci';
import { Ctx } from './context.js';
import { countBody } from './body.js';
import { Router, type Route } from './router.js';
import type { NodeMetrics } from '../metrics.js';
import { createServer as createHttpsServer, type ServerOptions as HttpsOptions } from 'node:https';
import type { AllowList } from './network.js';

export interface HttpOptions {
  accessLog: boolean;
  log: Logger;
  /** Told of every finished request (Prometheus metrics). */
  metrics?: NodeMetrics;
  /** Serve HTTPS with these options (http/tls.ts); plain HTTP without. */
  tls?: HttpsOptions;
  /** Client addresses served (http/network.ts); others get 403 DENIED. Undefined: everyone, unchecked. */
  allow?: AllowList;
  /** A request body that brings no bytes for this long has its socket closed (0: never). */
  idleTimeoutMs: number;
  /** Named on every response (`Georeg-Region`): which region served it, behind any global front. */
  region?: string;
}

/** Per socket: bytes read and written when its last request finished. */
const counted = Symbol('georeg.bytesCounted');
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const idPrefix = randomBytes(4).toString('hex');
let idCounter = 0;

/** The one place that turns errors into OCI error bodies. */
export function sendError(ctx: Ctx, err: unknown): void {
  let e: OciError;
  if (isOciError(err)) {
    e = err;
  } else {
    ctx.log.error('request failed', { err, route: ctx.route });
    e = oci('INTERNAL');
  }
  const res = ctx.res;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const region = res.getHeader('Georeg-Region');
  for (const h of res.getHeaderNames()) res.removeHeader(h);
  res.setHeader('X-Request-Id', ctx.id);
  if (region !== undefined) res.setHeader('Georeg-Region', region);
  for (const [name, value] of Object.entries(e.headers)) res.setHeader(name, value);
  res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
  if (e.status === 416 && e.detail && typeof e.detail === 'object' && 'size' in e.detail) {
    res.setHeader('Content-Range', `bytes */${String(e.detail.size)}`);
  }
  if (e.status === 405 && e.detail && typeof e.detail === 'object' && 'allow' in e.detail) {
    res.setHeader('Allow', String(e.detail.allow)); // RFC 9110: a 405 MUST list the allowed methods
  }
  ctx.json(e.status, e.toBody());
}

export function createHttpServer(routes: Route[], opts: HttpOptions): Server {
  const router = new Router(routes);
  const listener = (req: IncomingMessage, res: ServerResponse): void => void handle(router, opts, req, res);
  const server = opts.tls ? createHttpsServer(opts.tls, listener) : createServer(listener);
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 70_000;
  server.requestTimeout = 0; // large blob uploads may take long; a silent body is cut by guardBody
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => answerUnparsed(err, socket, opts.log));
  return server;
}

/**
 * A request Node's HTTP parser refuses never reaches a route: answer it here, with an OCI error
 * body as every other error (Node's own answer is a bare status line), and close the connection.
 * Logged at debug level, without the bytes: anyone can send these, and they may hold credentials.
 */
function answerUnparsed(err: NodeJS.ErrnoException, socket: Socket, log: Logger): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const kind =
    err.code === 'HPE_HEADER_OVERFLOW' ? 'HEADERS_TOO_LARGE' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'HEADERS_TIMEOUT' : 'HTTP_INVALID';
  // llhttp's reason ("Invalid header value char") names the fault, never the bytes.
  const reason = (err as { reason?: unknown }).reason;
  const e = oci(kind, undefined, typeof reason === 'string' ? { reason } : undefined);
  log.debug('malformed request refused', { code: err.code, status: e.status, remote: socket.remoteAddress });
  const body = JSON.stringify(e.toBody());
  socket.end(
    `HTTP/1.1 ${e.status} ${STATUS_CODES[e.status] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Docker-Distribution-API-Version: registry/2.0\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * While a request's body is read, a client that goes silent for `ms` has its socket closed (Node's
 * handler for a socket timeout): otherwise a stalled PATCH would hold its socket, staging file and
 * upload lock forever; the upload keeps what was written and resumes. Only the body: a slow reader
 * of a download and a request the server works on long (garbage collection, a digest check of a
 * large upload) are not cut. After the response, Node's keep-alive timeout takes over.
 */
function guardBody(req: IncomingMessage, res: ServerResponse, ms: number): void {
  const length = req.headers['content-length'];
  if (ms <= 0 || (req.headers['transfer-encoding'] === undefined && (length === undefined || length === '0'))) return;
  const socket = req.socket;
  socket.setTimeout(ms);
  req.once('end', () => {
    if (!res.writableEnded) socket.setTimeout(0);
  });
}

async function handle(router: Router, opts: HttpOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = process.hrtime.bigint();
  guardBody(req, res, opts.idleTimeoutMs);
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : `${idPrefix}-${(++idCounter).toString(36)}`;
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const log = opts.log;
  const match = router.match(req.method ?? 'GET', path);
  const ctx = new Ctx(req, res, id, log, path, q === -1 ? '' : url.slice(q + 1), match?.params ?? []);
  res.setHeader('X-Request-Id', id);
  if (opts.region) res.setHeader('Georeg-Region', opts.region);
  const { metrics, accessLog } = opts;
  if (accessLog || metrics) {
    const bodyBytes = accessLog ? countBody(req) : undefined;
    const socket = req.socket as Socket & { [counted]?: [number, number] };
    res.once('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      // Bytes since the previous request on this keep-alive connection finished: this request's headers and body.
      const [read0, written0] = socket[counted] ?? [0, 0];
      socket[counted] = [socket.bytesRead, socket.bytesWritten];
      metrics?.request(ctx.route, req.method ?? 'GET', res.statusCode, ms / 1000, socket.bytesRead - read0, socket.bytesWritten - written0);
      if (!accessLog) return;
      log.info('request', {
        reqId: id,
        method: req.method,
        route: ctx.route,
        path: path.length > 512 ? path.slice(0, 512) : path,
        status: res.statusCode,
        bytesIn: bodyBytes?.() ?? 0,
        ms,
        remote: req.socket.remoteAddress,
      });
    });
  }
  try {
    if (opts.allow && !opts.allow.allowsSocket(req.socket))
      throw oci('DENIED', 'client address not allowed', { address: req.socket.remoteAddress ?? null });
    if (!match) throw oci('NOT_FOUND', undefined, { path: path.slice(0, 256) });
    ctx.route = match.route.name;
    if (!match.handler) {
      const methods = Object.keys(match.route.methods);
      if (methods.includes('GET')) methods.push('HEAD');
      throw oci('METHOD_NOT_ALLOWED', undefined, { method: req.method, allow: methods.join(', ') });
    }
    await match.handler(ctx);
  } catch (err) {
    sendError(ctx, err);
  }
}
