import { oci, parseReference, apiPattern } from 'georeg/oci';
import type { Registry } from '../../registry/registry.js';
import { readLimited } from '../body.js';
import { needs } from '../../auth/access.js';
import type { Route } from '../router.js';

const MAX_POLICY_BYTES = 1024 * 1024;

/**
 * The trust policy document at /georeg/v1/trust/policy: GET shows the version
 * in force and the document, PUT replaces it (a new version, replicated to
 * every region). GET /georeg/v1/trust shows decisions served by mode and result;
 * GET /georeg/v1/trust/tags/<name>/<tag> what a signer needs, also for a tag
 * enforce mode refuses to serve: its target descriptor and the highest binding
 * sequence seen for it (`georeg sign` numbers its next binding after that).
 */
export function trustRoutes(registry: Registry): Route[] {
  return [
    {
      name: 'trust-policy',
      pattern: apiPattern('trustPolicy'),
      methods: {
        GET: {
          access: needs.authenticated,
          handler(ctx) {
            const { version, trust } = registry.policies.current;
            ctx.json(200, { version, document: trust.document });
          },
        },
        PUT: {
          access: needs.admin,
          async handler(ctx) {
            const body = await readLimited(ctx.req, MAX_POLICY_BYTES, 'POLICY_INVALID');
            let doc: unknown;
            try {
              doc = JSON.parse(body.toString('utf8'));
            } catch (e) {
              throw oci('POLICY_INVALID', `not JSON: ${(e as Error).message}`);
            }
            const { version, trust } = await registry.policies.set(doc);
            ctx.log.info('trust policy changed', { version, keys: trust.keysById.size, policies: trust.document.policies.length });
            ctx.json(200, { version, document: trust.document });
          },
        },
      },
    },
    {
      name: 'trust-tag',
      pattern: apiPattern('trustTag'),
      methods: {
        GET: {
          access: needs.pull,
          async handler(ctx) {
            const ref = parseReference(ctx.param(1));
            if (ref.tag === undefined) throw oci('TAG_INVALID', 'expected a tag');
            const record = await registry.manifests.find(ctx.name, ref);
            ctx.json(200, {
              repository: ctx.name,
              tag: ref.tag,
              target: record ? { mediaType: record.mediaType, digest: record.digest, size: record.size } : null,
              ...(await registry.trust.tagState(ctx.name, ref.tag)),
            });
          },
        },
      },
    },
    {
      name: 'trust',
      pattern: apiPattern('trust'),
      methods: {
        GET: {
          access: needs.authenticated,
          handler(ctx) {
            ctx.json(200, { version: registry.policies.current.version, decisions: registry.trust.counts() });
          },
        },
      },
    },
  ];
}
