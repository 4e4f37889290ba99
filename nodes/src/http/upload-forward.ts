import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { pipeline } from 'node:stream/promises';
import { oci } from 'georeg/oci';
import type { NodeStatus } from '../status.js';
import type { Ctx } from './context.js';

/** An upload session id as clients see it: `<region>.<id>`; base64url ids hold no '.'. */
const QUALIFIED = /^([a-z0-9-]{1,63})\.([A-Za-z0-9_-]{1,64})$/;
/** Request headers a forwarded upload request keeps; everything else (hop-by-hop, Host) is the proxy's own. */
const REQUEST_HEADERS = ['authorization', 'content-type', 'content-length', 'content-range', 'transfer-encoding', 'user-agent'];
/** A forwarded request whose peer sends nothing for this long is given up. */
const IDLE_MS = 60_000;
/** Answer headers passed back to the client. */
const ANSWER_HEADERS = [
  'content-type',
  'content-length',
  'location',
  'range',
  'docker-upload-uuid',
  'docker-content-digest',
  'www-authenticate',
  'docker-distribution-api-version',
];

/**
 * Upload sessions across regions. With peers, an upload session's id names the region that holds
 * it (`eu.AbC...`), so a request for it that lands in another region (a client behind a
 * round-robin or DNS front whose connections reach two regions, Azure/acr#588) is forwarded to
 * that region's public URL, body and answer streamed, the client's credentials passed on (regions
 * share the token key and replicate users). A session of a region that cannot be reached is
 * BLOB_UPLOAD_UNKNOWN, saying so. Ids without a region (a previous release's sessions) are local.
 */
export class UploadSessions {
  constructor(
    private readonly status: NodeStatus,
    /** CA for peers' HTTPS (replication.tlsCa), when their certificates are not publicly trusted. */
    private readonly ca?: Buffer,
  ) {}

  /** The id a client is given for a session started here. */
  qualify(id: string): string {
    return `${this.status.region}.${id}`;
  }

  /** The local id of a session of this region, or the region that holds it. */
  resolve(given: string): { id: string } | { region: string } {
    const m = QUALIFIED.exec(given);
    if (!m) return { id: given };
    const [, region, id] = m as unknown as [string, string, string];
    return region === this.status.region ? { id } : { region };
  }

  /** Pass the request on to `region`'s node and its answer back. */
  async forward(ctx: Ctx, region: string, given: string): Promise<void> {
    const base = this.status.replication?.publicUrlOf(region);
    if (!base) throw oci('BLOB_UPLOAD_UNKNOWN', `upload ${given} belongs to region ${region}, which cannot be reached now`, { region });
    const target = new URL(ctx.req.url ?? '/', base);
    const headers: Record<string, string> = {};
    for (const h of REQUEST_HEADERS) {
      const v = ctx.req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    headers['x-forwarded-for'] = ctx.req.socket.remoteAddress ?? '';
    headers['x-request-id'] = ctx.id;
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const out = send(target, { method: ctx.req.method, headers, ...(this.ca && { ca: this.ca }) });
    // A peer that stops answering mid-request (a partition) must not hold the client forever.
    out.setTimeout(IDLE_MS, () => out.destroy(new Error(`no answer for ${IDLE_MS / 1000} s`)));
    const answered = new Promise<{ status: number; headers: IncomingHttpHeaders; body: NodeJS.ReadableStream }>((resolve, reject) => {
      out.once('response', (res) => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: res }));
      out.once('error', reject);
    });
    try {
      // Both awaited together: an error of the request rejects both, and neither is left unhandled.
      const [, res] = await Promise.all([pipeline(ctx.req, out), answered]);
      const back: Record<string, string> = {};
      for (const h of ANSWER_HEADERS) {
        const v = res.headers[h];
        if (typeof v === 'string') back[h] = v;
      }
      ctx.res.writeHead(res.status, back);
      await pipeline(res.body, ctx.res);
    } catch (err) {
      if (ctx.res.headersSent) throw err;
      throw oci('BLOB_UPLOAD_UNKNOWN', `upload ${given} belongs to region ${region}, which did not answer: ${(err as Error).message}`, {
        region,
      });
    }
  }
}
