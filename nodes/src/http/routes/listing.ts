import { parseDigest, oci, MediaTypes, apiPattern, queryString } from 'georeg/oci';
import type { Page } from '../../meta/store.js';
import type { Registry } from '../../registry/registry.js';
import type { Ctx } from '../context.js';
import { needs } from '../../auth/access.js';
import type { Route } from '../router.js';

const MAX_PAGE = 10_000;

function page(ctx: Ctx): Page {
  const last = ctx.q('last');
  if (last !== undefined && last.length > 256) throw oci('PAGINATION_INVALID', 'last is too long');
  return { n: ctx.qInt('n', MAX_PAGE), last };
}

/** `Link: <path?n=N&last=X>; rel="next"` for a page that came back full. */
function link(path: string, p: Page, items: string[], more: boolean): Record<string, string> {
  const last = items[items.length - 1];
  if (!more || last === undefined || p.n === undefined) return {};
  return { Link: `<${path}${queryString({ n: p.n, last })}>; rel="next"` };
}

/** Tags list, catalog and referrers. */
export function listingRoutes(registry: Registry): Route[] {
  const listing = registry.listing;
  return [
    {
      name: 'tags',
      pattern: apiPattern('tags'),
      methods: {
        GET: {
          access: needs.pull,
          async handler(ctx) {
            const name = ctx.name;
            const p = page(ctx);
            const { items, more } = await listing.tags(name, p);
            ctx.json(200, { name, tags: items }, link(ctx.path, p, items, more));
          },
        },
      },
    },
    {
      name: 'referrers',
      pattern: apiPattern('referrers'),
      methods: {
        GET: {
          access: needs.pull,
          async handler(ctx) {
            const name = ctx.name;
            const subject = parseDigest(ctx.param(1));
            const artifactType = ctx.q('artifactType');
            const manifests = await listing.referrers(name, subject, artifactType);
            const headers: Record<string, string> = { 'Content-Type': MediaTypes.ociIndex };
            if (artifactType !== undefined) headers['OCI-Filters-Applied'] = 'artifactType';
            ctx.send(200, headers, JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests }));
          },
        },
      },
    },
    {
      name: 'catalog',
      pattern: apiPattern('catalog'),
      methods: {
        GET: {
          access: needs.catalog,
          async handler(ctx) {
            const p = page(ctx);
            const access = ctx.access;
            if (!access) {
              const { items, more } = await listing.repositories(p);
              return ctx.json(200, { repositories: items }, link(ctx.path, p, items, more));
            }
            // With authentication on, only repositories the caller may pull or read are listed, pages
            // filled past hidden ones, and the Link names only a repository the caller saw.
            // `more` is whether repositories past the last one looked at remain: the store says so for
            // its batch, and a full page leaves the rest of the batch unlooked at.
            const shown: string[] = [];
            let cursor = p.last;
            let more = true;
            while (more && (p.n === undefined || shown.length < p.n)) {
              const batch = await listing.repositories({
                last: cursor,
                n: p.n === undefined ? undefined : Math.max(p.n - shown.length, 100),
              });
              more = batch.more;
              for (const r of batch.items) {
                if (p.n !== undefined && shown.length === p.n) {
                  more = true;
                  break;
                }
                cursor = r;
                if (await access.visible(r)) shown.push(r);
              }
            }
            ctx.json(200, { repositories: shown }, link(ctx.path, p, shown, more));
          },
        },
      },
    },
  ];
}
