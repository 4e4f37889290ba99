import { apiPattern, oci, parseDigest, parseTag, type Digest, type Reference } from 'georeg/oci';
import type { Registry } from '../../registry/registry.js';
import { parseAttributes, type LockTarget } from '../../registry/locks.js';
import type { ListOrder, ListRequest } from '../../registry/properties.js';
import { needs } from '../../auth/access.js';
import { readLimited } from '../body.js';
import type { Ctx } from '../context.js';
import type { Route } from '../router.js';

const MAX_PAGE = 1000;
const ORDERS: Record<string, ListOrder> = { timedesc: 'timedesc', timeasc: 'timeasc' };

/** `n`, `last` and `orderby` of a listing (ACR's names), validated. */
function listRequest(ctx: Ctx, ordered: boolean): ListRequest {
  const last = ctx.q('last');
  if (last !== undefined && last.length > 256) throw oci('PAGINATION_INVALID', 'last is too long');
  const by = ctx.q('orderby');
  if (by !== undefined && (!ordered || ORDERS[by] === undefined)) {
    throw oci('PAGINATION_INVALID', ordered ? `orderby must be timedesc or timeasc, not ${by}` : 'the catalog has no orderby');
  }
  const digest = ctx.q('digest');
  return {
    order: by === undefined ? 'name' : (ORDERS[by] as ListOrder),
    last,
    n: ctx.qInt('n', MAX_PAGE),
    digest: digest === undefined ? undefined : parseDigest(digest),
  };
}

/** The `Link` to the next page, with every query parameter the listing was asked with (the SDK follows it as it is). */
function next(ctx: Ctx, last: string | undefined, more: boolean): Record<string, string> {
  return more && last !== undefined ? { Link: `<${ctx.path}${ctx.queryWith({ last })}>; rel="next"` } : {};
}

/** The registry's name as the client reached it (ACR's `registry` field). */
function registryName(ctx: Ctx): string {
  const host = ctx.header('host') ?? '';
  return /^[A-Za-z0-9.[\]:-]{1,255}$/.test(host) ? host : '';
}

/** The attributes of a PATCH body (at most 4 KiB of JSON). */
async function attributesOf(ctx: Ctx): Promise<ReturnType<typeof parseAttributes>> {
  const body = await readLimited(ctx.req, 4096, 'ATTRIBUTES_INVALID');
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw oci('ATTRIBUTES_INVALID', 'the body is not JSON: send e.g. {"writeEnabled": false}');
  }
  return parseAttributes(value);
}

/**
 * ACR's metadata API (`/acr/v1`, what the Azure SDK's ContainerRegistryClient calls): the catalog;
 * repository, tag and manifest properties, listed by name or by time with `Link` paging; their
 * changeable attributes (locks) set by PATCH; deletes (202, a 404 meaning gone already). Reads need
 * `metadata_read` (anonymous where anonymous pull is allowed, but never the catalog), PATCH
 * `metadata_write`, DELETE `delete`.
 */
export function acrRoutes(registry: Registry): Route[] {
  const props = registry.properties;
  const patch = async (ctx: Ctx, target: LockTarget): Promise<void> => {
    await registry.locks.update(target, await attributesOf(ctx));
  };
  /**
   * A tag or a manifest (`field`, the key ACR nests its properties under): GET its properties, PATCH
   * its attributes (once it is known to be there), DELETE it (a manifest with its tags).
   */
  const item = (
    name: string,
    path: 'acrTag' | 'acrManifest',
    field: string,
    refOf: (ctx: Ctx) => Reference,
    view: (repo: string, ref: Reference) => Promise<unknown>,
  ): Route => {
    const answer = async (ctx: Ctx, ref: Reference): Promise<void> =>
      ctx.json(200, { registry: registryName(ctx), imageName: ctx.name, [field]: await view(ctx.name, ref) });
    return {
      name,
      pattern: apiPattern(path),
      methods: {
        GET: { access: needs.metadataRead, handler: (ctx) => answer(ctx, refOf(ctx)) },
        PATCH: {
          access: needs.metadataWrite,
          async handler(ctx) {
            const ref = refOf(ctx);
            await view(ctx.name, ref);
            await patch(ctx, { repository: ctx.name, ...ref });
            await answer(ctx, ref);
          },
        },
        DELETE: {
          access: needs.delete,
          async handler(ctx) {
            await registry.manifests.delete(ctx.name, refOf(ctx));
            ctx.send(202, { 'Content-Length': 0 });
          },
        },
      },
    };
  };
  return [
    {
      name: 'acr-catalog',
      pattern: apiPattern('acrCatalog'),
      methods: {
        GET: {
          access: needs.namedCatalog,
          async handler(ctx) {
            const req = listRequest(ctx, false);
            const access = ctx.access;
            const { items, more } = await registry.listing.repositories(req);
            // With authentication on, only the repositories the caller may read.
            const shown = access
              ? (await Promise.all(items.map(async (r) => ((await access.visible(r)) ? r : undefined)))).filter((r) => r !== undefined)
              : items;
            ctx.json(200, { repositories: shown }, next(ctx, items[items.length - 1], more));
          },
        },
      },
    },
    item(
      'acr-tag',
      'acrTag',
      'tag',
      (ctx) => ({ tag: parseTag(ctx.param(1)), digest: undefined }),
      (repo, ref) => props.tag(repo, ref.tag as string),
    ),
    {
      name: 'acr-tags',
      pattern: apiPattern('acrTags'),
      methods: {
        GET: {
          access: needs.metadataRead,
          async handler(ctx) {
            const req = listRequest(ctx, true);
            const { items, more } = await props.tags(ctx.name, req);
            ctx.json(
              200,
              { registry: registryName(ctx), imageName: ctx.name, tags: items },
              next(ctx, items[items.length - 1]?.name, more),
            );
          },
        },
      },
    },
    item(
      'acr-manifest',
      'acrManifest',
      'manifest',
      (ctx) => ({ digest: parseDigest(ctx.param(1)), tag: undefined }),
      (repo, ref) => props.manifest(repo, ref.digest as Digest),
    ),
    {
      name: 'acr-manifests',
      pattern: apiPattern('acrManifests'),
      methods: {
        GET: {
          access: needs.metadataRead,
          async handler(ctx) {
            const req = listRequest(ctx, true);
            const { items, more } = await props.manifestList(ctx.name, req);
            ctx.json(
              200,
              { registry: registryName(ctx), imageName: ctx.name, manifests: items },
              next(ctx, items[items.length - 1]?.digest, more),
            );
          },
        },
      },
    },
    {
      name: 'acr-repository',
      pattern: apiPattern('acrRepository'),
      methods: {
        GET: {
          access: needs.metadataRead,
          async handler(ctx) {
            ctx.json(200, { registry: registryName(ctx), ...(await props.repository(ctx.name)) });
          },
        },
        PATCH: {
          access: needs.metadataWrite,
          async handler(ctx) {
            await props.repository(ctx.name);
            await patch(ctx, { repository: ctx.name });
            ctx.json(200, { registry: registryName(ctx), ...(await props.repository(ctx.name)) });
          },
        },
        DELETE: {
          access: needs.delete,
          async handler(ctx) {
            ctx.json(202, await props.deleteRepository(ctx.name));
          },
        },
      },
    },
  ];
}
