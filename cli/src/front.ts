import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { oci } from 'georeg/oci';

/** How often a node left out after a connection that never reached it is probed (a TCP connection) until it takes one again. */
const PROBE_MS = 500;
/**
 * Errors of a connection that never reached its node: refused, or a name that does not resolve
 * (a stopped container's, in docker compose). The node saw nothing of the request.
 */
const UNREACHED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);

interface Backend {
  host: string;
  port: number;
  agent: Agent;
  /** While it is left out of the rotation (it refused a connection): the probe that brings it back. */
  probing?: NodeJS.Timeout;
  /** The probe's connection attempt in progress (one at a time). */
  probe?: Socket;
}

/** Leave `b` out of the rotation until it takes a connection again, tried every PROBE_MS (each attempt given as long). */
function leaveOut(b: Backend): void {
  if (b.probing) return;
  const timer = setInterval(() => {
    if (b.probe) return;
    const socket = (b.probe = connect(b.port, b.host));
    socket.setTimeout(PROBE_MS, () => socket.destroy());
    socket.once('connect', () => {
      socket.destroy();
      if (b.probing !== timer) return;
      clearInterval(timer);
      b.probing = undefined;
    });
    socket.once('error', () => socket.destroy());
    socket.once('close', () => {
      if (b.probe === socket) b.probe = undefined;
    });
  }, PROBE_MS);
  b.probing = timer;
}

export interface RunningFront {
  url: string;
  close(): Promise<void>;
}

/**
 * A small round-robin front for several nodes of one region (what a load balancer does in
 * production): each request goes to the next node, streamed both ways, with the client's Host
 * kept and X-Forwarded-For/-Proto added. A node that refuses the connection, or whose name does
 * not resolve, is left out until it takes a connection again (probed every PROBE_MS, as a load
 * balancer's health checks do); a request without a body that never reached its node, or that a
 * connection kept alive from an earlier request lost before any answer (its node died), goes to the
 * next node at once, as does a GET or HEAD that any connection lost unanswered. A request with a body is never replayed (it is not buffered): its client gets
 * 503 UNAVAILABLE and retries, as registry clients do.
 */
export async function startFront(listen: { host: string; port: number }, nodes: { host: string; port: number }[]): Promise<RunningFront> {
  if (nodes.length === 0) throw new RangeError('a front needs at least one node');
  const backends: Backend[] = nodes.map((n) => ({ ...n, agent: new Agent({ keepAlive: true }) }));
  let next = 0;
  const pick = (tried: Set<Backend>): Backend | undefined => {
    for (let i = 0; i < backends.length; i++) {
      const b = backends[(next + i) % backends.length] as Backend;
      if (tried.has(b) || b.probing) continue;
      next = (next + i + 1) % backends.length;
      return b;
    }
    return backends.find((b) => !tried.has(b)); // all left out: try one anyway
  };
  const server = createServer((req, res) => forward(req, res, pick, new Set()));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${port}`,
    close: () => closeServer(server, backends),
  };
}

function forward(req: IncomingMessage, res: ServerResponse, pick: (tried: Set<Backend>) => Backend | undefined, tried: Set<Backend>): void {
  const backend = pick(tried);
  if (!backend) return unavailable(res, 'no node of this region answers');
  tried.add(backend);
  const forwardedFor = [req.headers['x-forwarded-for'], req.socket.remoteAddress].filter(Boolean).join(', ');
  const upstream = request(
    {
      host: backend.host,
      port: backend.port,
      method: req.method,
      path: req.url,
      agent: backend.agent,
      headers: { ...req.headers, 'x-forwarded-for': forwardedFor, 'x-forwarded-proto': req.headers['x-forwarded-proto'] ?? 'http' },
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
      answer.pipe(res);
      answer.once('error', () => res.destroy());
    },
  );
  const bodyless = !('content-length' in req.headers && req.headers['content-length'] !== '0') && !('transfer-encoding' in req.headers);
  upstream.once('error', (err: NodeJS.ErrnoException) => {
    if (res.headersSent) return void res.destroy(); // cut mid-answer: the client sees it cut
    const unreached = UNREACHED.has(err.code ?? '');
    if (unreached) leaveOut(backend);
    // Never reached, or cut unanswered on a connection kept from an earlier request (its node closed it or died): the next node.
    // A GET or HEAD cut unanswered on a new connection too (a node dying takes connections, then resets them): it is safe to send again.
    const safe = req.method === 'GET' || req.method === 'HEAD';
    const replayable = unreached || (err.code === 'ECONNRESET' && (upstream.reusedSocket || safe));
    if (bodyless && replayable) return forward(req, res, pick, tried);
    unavailable(res, `the node that took this request went away (${err.code ?? err.message}): retry`);
  });
  res.once('close', () => {
    if (!res.writableFinished) upstream.destroy(); // the client went away
  });
  if (bodyless) upstream.end();
  else req.pipe(upstream);
}

function unavailable(res: ServerResponse, detail: string): void {
  const e = oci('UNAVAILABLE', undefined, detail);
  const body = JSON.stringify(e.toBody());
  res.writeHead(e.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'Retry-After': '1' });
  res.end(body);
}

function closeServer(server: Server, backends: Backend[]): Promise<void> {
  for (const b of backends) {
    b.agent.destroy();
    clearInterval(b.probing);
    b.probe?.destroy();
  }
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
