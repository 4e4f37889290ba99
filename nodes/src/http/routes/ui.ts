import { apiPattern } from 'georeg/oci';
import { createHash } from 'node:crypto';
import { needs } from '../../auth/access.js';
import type { Route } from '../router.js';
import type { Ctx } from '../context.js';
import { grammarJs, uiFile } from '../../ui/assets.js';

/**
 * The page's own assets only: no inline script or style, no other origin. The page talks to
 * this node's JSON API (/georeg/v1/...) and nothing else.
 */
export const UI_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function asset(text: string, type: string): Asset {
  const body = Buffer.from(text, 'utf8');
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

/** Answer with `a`, or 304 when the client holds this version (no-cache: it asks every time). */
function serve(ctx: Ctx, a: Asset): void {
  const headers = {
    'Content-Type': a.type,
    'Content-Security-Policy': UI_CSP,
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    ETag: a.etag,
  };
  const inm = ctx.header('if-none-match');
  if (inm !== undefined && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === a.etag)) {
    ctx.send(304, headers);
    return;
  }
  ctx.send(200, headers, a.body);
}

/**
 * The status page every node serves about itself at GET /georeg/ui: its region and the regions
 * it replicates from (health, lag, pending events; polled from /georeg/v1/replication), and
 * "where is my image?" (/georeg/v1/where). The files in nodes/ui, read here once, and the
 * registry's grammar for the script (ui/grammar.js); URLs inside the page are relative, so it also
 * works behind a proxy that adds a path prefix.
 */
export function uiRoutes(): Route[] {
  const page = asset(uiFile('page.html'), 'text/html; charset=utf-8');
  const js = asset(uiFile('app.js'), 'text/javascript; charset=utf-8');
  const grammar = asset(grammarJs(), 'text/javascript; charset=utf-8');
  const session = asset(uiFile('session.js'), 'text/javascript; charset=utf-8');
  const dom = asset(uiFile('dom.js'), 'text/javascript; charset=utf-8');
  const matrix = asset(uiFile('matrix.js'), 'text/javascript; charset=utf-8');
  const css = asset(uiFile('app.css'), 'text/css; charset=utf-8');
  const icon = asset(uiFile('favicon.svg'), 'image/svg+xml');
  const get = (a: Asset): Route['methods'] => ({ GET: { access: needs.public, handler: (ctx) => serve(ctx, a) } });
  return [
    { name: 'ui', pattern: apiPattern('ui'), methods: get(page) },
    {
      name: 'ui',
      pattern: apiPattern('uiSlash'),
      methods: {
        GET: {
          access: needs.public,
          handler(ctx) {
            // Relative, so that a path prefix added by a proxy survives.
            ctx.send(308, { Location: '../ui', 'Cache-Control': 'no-cache' });
          },
        },
      },
    },
    { name: 'ui', pattern: apiPattern('uiScript'), methods: get(js) },
    { name: 'ui', pattern: apiPattern('uiGrammar'), methods: get(grammar) },
    { name: 'ui', pattern: apiPattern('uiSession'), methods: get(session) },
    { name: 'ui', pattern: apiPattern('uiDom'), methods: get(dom) },
    { name: 'ui', pattern: apiPattern('uiMatrix'), methods: get(matrix) },
    { name: 'ui', pattern: apiPattern('uiStyle'), methods: get(css) },
    { name: 'ui', pattern: apiPattern('uiIcon'), methods: get(icon) },
  ];
}
