import { oci, apiPattern } from 'georeg/oci';
import type { AuthService } from '../../auth/service.js';
import type { Principal } from '../../auth/identities.js';
import { parseScopes } from '../../auth/scopes.js';
import { readLimited } from '../body.js';
import type { Ctx } from '../context.js';
import { needs } from '../../auth/access.js';
import type { Route } from '../router.js';

const MAX_FORM_BYTES = 64 * 1024;
/** The status page's `client_id`: its sign-in keeps a refresh token of STATUS_PAGE_SESSION_SECONDS at most, in the tab. */
const STATUS_PAGE = 'georeg-status-page';
const STATUS_PAGE_SESSION_SECONDS = 3600;

async function form(ctx: Ctx): Promise<URLSearchParams> {
  const type = ctx.header('content-type') ?? '';
  if (!type.startsWith('application/x-www-form-urlencoded')) throw oci('UNSUPPORTED', 'expected an application/x-www-form-urlencoded body');
  return new URLSearchParams((await readLimited(ctx.req, MAX_FORM_BYTES, 'SIZE_INVALID')).toString('utf8'));
}

function checkService(auth: AuthService, service: string | null | undefined): void {
  if (service && service !== auth.settings.service) throw oci('DENIED', `this registry's token service is ${auth.settings.service}`);
}

/**
 * The token endpoints: GET /oauth2/token per the Docker registry token spec
 * (Basic credentials or none in, a short-lived JWT out, a refresh token with
 * `offline_token=true`), and POST /oauth2/token and /oauth2/exchange as the
 * Azure SDK uses them (form bodies; see ../shared/docs/acr-api.md).
 */
export function oauthRoutes(auth: AuthService): Route[] {
  return [
    {
      name: 'oauth',
      pattern: apiPattern('oauthToken'),
      methods: {
        GET: {
          access: needs.public,
          async handler(ctx) {
            checkService(auth, ctx.q('service'));
            const principal = await auth.basicLogin(ctx);
            const { token, expiresIn, issuedAt } = auth.accessToken(principal, parseScopes(ctx.qAll('scope')));
            const body: Record<string, unknown> = { token, access_token: token, expires_in: expiresIn, issued_at: issuedAt };
            if (principal && ctx.q('offline_token') === 'true') body.refresh_token = auth.refreshToken(principal);
            ctx.res.setHeader('Cache-Control', 'no-store');
            ctx.json(200, body);
          },
        },
        POST: {
          access: needs.public,
          async handler(ctx) {
            const f = await form(ctx);
            checkService(auth, f.get('service'));
            const grant = f.get('grant_type');
            let principal: Principal | undefined;
            let authTime: number | undefined;
            if (grant === 'refresh_token' && f.get('refresh_token'))
              ({ principal, authTime } = await auth.fromRefresh(f.get('refresh_token') as string));
            else if (grant === 'password' && f.get('username'))
              principal = await auth.login(ctx, f.get('username') as string, f.get('password') ?? '');
            else if (grant !== 'password' && grant !== 'refresh_token')
              throw oci('UNSUPPORTED', 'grant_type must be password or refresh_token');
            const { token, expiresIn } = auth.accessToken(principal, parseScopes((f.get('scope') ?? '').split(' ')));
            const body: Record<string, unknown> = { access_token: token, token_type: 'Bearer', expires_in: expiresIn };
            if (principal && (grant === 'password' || f.get('access_type') === 'offline'))
              body.refresh_token = auth.refreshToken(
                principal,
                authTime,
                f.get('client_id') === STATUS_PAGE ? STATUS_PAGE_SESSION_SECONDS : undefined,
              );
            ctx.res.setHeader('Cache-Control', 'no-store');
            ctx.json(200, body);
          },
        },
      },
    },
    {
      name: 'oauth',
      pattern: apiPattern('oauthExchange'),
      methods: {
        POST: {
          access: needs.public,
          async handler(ctx) {
            const f = await form(ctx);
            checkService(auth, f.get('service'));
            if (f.get('grant_type') !== 'access_token') throw oci('UNSUPPORTED', 'grant_type must be access_token');
            // The credential to exchange: a georeg refresh token (what a georeg credential hands the SDK).
            const { principal, authTime } = await auth.fromRefresh(f.get('access_token') ?? '');
            ctx.res.setHeader('Cache-Control', 'no-store');
            ctx.json(200, { refresh_token: auth.refreshToken(principal, authTime) });
          },
        },
      },
    },
  ];
}
