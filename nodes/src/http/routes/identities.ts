import { oci, apiPattern } from 'georeg/oci';
import type { Identities } from '../../auth/identities.js';
import { readLimited } from '../body.js';
import type { Ctx } from '../context.js';
import { needs } from '../../auth/access.js';
import type { Endpoint, Handler, Route } from '../router.js';

async function body(ctx: Ctx): Promise<Record<string, unknown>> {
  try {
    const v = JSON.parse((await readLimited(ctx.req, 64 * 1024, 'AUTH_INVALID')).toString('utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('expected a JSON object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw oci('AUTH_INVALID', (e as Error).message);
  }
}

const str = (v: unknown, what: string): string => {
  if (typeof v !== 'string') throw oci('AUTH_INVALID', `${what} must be a string`);
  return v;
};
const bool = (v: unknown, what: string): boolean | undefined => {
  if (v !== undefined && typeof v !== 'boolean') throw oci('AUTH_INVALID', `${what} must be true or false`);
  return v;
};

/** Every method here is an administrator's. */
const admin = (handler: Handler): Endpoint => ({ access: needs.admin, handler });

/**
 * Users and tokens under /georeg/v1/auth (administrators only; a token's secret
 * is in the answer to its creation, and never again). A user's `roles` are
 * `[{repositories: [glob], roles: [pull|push|delete|sign|admin]}]`; PATCH
 * replaces them all (`[]`: none).
 */
export function identityRoutes(identities: Identities): Route[] {
  return [
    {
      name: 'auth-users',
      pattern: apiPattern('users'),
      methods: {
        GET: admin(async (ctx) => {
          ctx.json(200, { users: await identities.listUsers() });
        }),
        POST: admin(async (ctx) => {
          const b = await body(ctx);
          ctx.json(
            201,
            await identities.addUser(str(b.name, 'name'), str(b.password, 'password'), bool(b.admin, 'admin') ?? false, { roles: b.roles }),
          );
        }),
      },
    },
    {
      name: 'auth-users',
      pattern: apiPattern('user'),
      methods: {
        PATCH: admin(async (ctx) => {
          const b = await body(ctx);
          const password = b.password === undefined ? undefined : str(b.password, 'password');
          ctx.json(
            200,
            await identities.setUser(ctx.param(0), {
              password,
              disabled: bool(b.disabled, 'disabled'),
              admin: bool(b.admin, 'admin'),
              roles: b.roles,
            }),
          );
        }),
        DELETE: admin(async (ctx) => {
          await identities.remove('user', ctx.param(0));
          ctx.send(204, {});
        }),
      },
    },
    {
      name: 'auth-tokens',
      pattern: apiPattern('tokens'),
      methods: {
        GET: admin(async (ctx) => {
          ctx.json(200, { tokens: await identities.listTokens() });
        }),
        POST: admin(async (ctx) => {
          const b = await body(ctx);
          const expires = b.expiresInSeconds ?? 0;
          if (typeof expires !== 'number') throw oci('AUTH_INVALID', 'expiresInSeconds must be a number');
          ctx.res.setHeader('Cache-Control', 'no-store');
          ctx.json(201, await identities.addToken(str(b.name, 'name'), b.scopes, expires));
        }),
      },
    },
    {
      name: 'auth-tokens',
      pattern: apiPattern('token'),
      methods: {
        PATCH: admin(async (ctx) => {
          const b = await body(ctx);
          ctx.json(200, await identities.setToken(ctx.param(0), { disabled: bool(b.disabled, 'disabled') }));
        }),
        DELETE: admin(async (ctx) => {
          await identities.remove('token', ctx.param(0));
          ctx.send(204, {});
        }),
      },
    },
  ];
}

/** With authentication off, the identity paths say so (a plain 404 "no such route" would hide why). */
export function authOffRoutes(): Route[] {
  const off: Endpoint = {
    access: needs.public,
    handler() {
      throw oci(
        'AUTH_OFF',
        'authentication is off on this node (auth.enabled=false): it has no users or tokens; turn it on to manage them',
      );
    },
  };
  const methods = { GET: off, POST: off, PATCH: off, DELETE: off };
  return (['users', 'user', 'tokens', 'token'] as const).map((key) => ({ name: 'auth-off', pattern: apiPattern(key), methods }));
}
