import { apiPaths } from 'georeg/oci';
import { CliError, DEFAULT_NODE_URL, parseOptions, stdinLine, type Command } from '../command.js';
import type { UserView } from 'georeg/nodes';
import { apiOptions, API_HELP, registryClient, timeoutMs } from '../connect.js';
import { findLogin } from '../auth-file.js';
import { table } from './status.js';

const common = {
  url: { type: 'string', default: DEFAULT_NODE_URL },
  admin: { type: 'string' },
  ...apiOptions,
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const AUTH_NOTE = `An administrator's login: georeg login (or GEOREG_PASSWORD, for the user --admin NAME or
GEOREG_USERNAME names, admin by default; never a flag: flags end up in shell history).
${API_HELP}`;

/** One admin API call with the administrator's Basic credentials; registry errors (RegistryError) exit 1 with their message. */
async function call(
  { url, admin, ca, timeout }: { url: string; admin?: string; ca?: string; timeout?: string },
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  const password = process.env.GEOREG_PASSWORD;
  const stored = admin === undefined ? (await findLogin(new URL(url).host))?.credentials : undefined;
  const credentials =
    stored ?? (password === undefined ? undefined : { username: admin ?? process.env.GEOREG_USERNAME ?? 'admin', password });
  return (await registryClient(url, { credentials, basic: true, caFile: ca, timeoutMs: timeoutMs(timeout) })).api(method, path, body);
}

/** `30d`, `12h`, `90m`, `3600s` or plain seconds. */
function seconds(spec: string): number {
  const m = /^(\d{1,9})([smhd]?)$/.exec(spec);
  if (!m) throw new CliError(`--expires-in must look like 30d, 12h, 90m or 3600s, not ${JSON.stringify(spec)}`);
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}

/** `team/**:pull,push` (a --scope or --role) → its repository glob and the comma-separated names after it. */
function globRule(spec: string, flag: string): [string[], string[]] {
  const i = spec.lastIndexOf(':');
  if (i <= 0) throw new CliError(`--${flag} must look like 'team/**:pull,push', not ${JSON.stringify(spec)}`);
  return [[spec.slice(0, i)], spec.slice(i + 1).split(',')];
}

/** `team/**:pull,push` → a scope map rule. */
function scope(spec: string): { repositories: string[]; actions: string[] } {
  const [repositories, actions] = globRule(spec, 'scope');
  return { repositories, actions };
}

/** `team/**:pull,sign` → a role rule (the registry checks the names). */
function role(spec: string): RoleSpec {
  const [repositories, roles] = globRule(spec, 'role');
  return { repositories, roles };
}

type RoleSpec = { repositories: string[]; roles: string[] };

/** Rules as the flags give them: `team/**:pull,push other/*:pull`. */
function rules<R extends { repositories: string[] }>(list: R[], names: (r: R) => string[]): string {
  return list.map((r) => `${r.repositories.join('|')}:${names(r).join(',')}`).join(' ');
}

async function run(values: { json?: boolean }, fn: () => Promise<unknown>, render: (v: never) => string): Promise<number> {
  const v = await fn();
  process.stdout.write(values.json ? JSON.stringify(v, null, 2) + '\n' : render(v as never));
  return 0;
}

const USER_USAGE = `Usage: georeg user add NAME [--role 'REPO-GLOB:ROLES' ...] [--admin-user] --password-stdin
       georeg user update NAME [--role 'REPO-GLOB:ROLES' ... | --no-roles] [--admin-user | --no-admin-user]
       georeg user list
       georeg user passwd NAME --password-stdin
       georeg user disable|enable|delete NAME
ROLES per repository glob (comma-separated, e.g. --role 'team/**:pull,sign'):
  pull     pull
  push     pull and push
  delete   pull and delete
  sign     pull, and push signatures only (cosign, georeg sign)
  admin    all of the above
A user without roles can log in and do nothing. On update, --role replaces all of the
user's roles and --no-roles removes them. --admin-user makes an administrator: manages
users, tokens and the trust policy, and may do everything in every repository.
Options: --url URL (default ${DEFAULT_NODE_URL}), --admin NAME (default admin), --json
${AUTH_NOTE}
`;

/** The changes `update` asks for: roles (replaced), administrator or not. */
function userChanges(values: { role?: string[]; 'no-roles'?: boolean; 'admin-user'?: boolean; 'no-admin-user'?: boolean }): {
  roles?: RoleSpec[];
  admin?: boolean;
} {
  if (values.role && values['no-roles']) throw new CliError('give --role or --no-roles, not both');
  if (values['admin-user'] && values['no-admin-user']) throw new CliError('give --admin-user or --no-admin-user, not both');
  const change: { roles?: RoleSpec[]; admin?: boolean } = {};
  if (values.role || values['no-roles']) change.roles = (values.role ?? []).map(role);
  if (values['admin-user'] || values['no-admin-user']) change.admin = values['admin-user'] === true;
  if (Object.keys(change).length === 0)
    throw new CliError(`nothing to update: give --role, --no-roles, --admin-user or --no-admin-user\n${USER_USAGE}`);
  return change;
}

/** The ROLES column: `-` for none; a user from before roles existed is marked. */
function shownRoles(u: UserView): string {
  const shown = rules(u.roles, (r) => r.roles) || '-';
  return u.legacy ? `${shown} (legacy: no roles set)` : shown;
}

export const userCommand: Command = {
  name: 'user',
  summary: 'manage users (passwords stored as scrypt hashes)',
  async run(argv) {
    const { values, positionals } = parseOptions(argv, {
      ...common,
      'admin-user': { type: 'boolean' },
      'no-admin-user': { type: 'boolean' },
      role: { type: 'string', multiple: true },
      'no-roles': { type: 'boolean' },
      'password-stdin': { type: 'boolean' },
    });
    if (values.help) return (process.stdout.write(USER_USAGE), 0);
    const [action, name] = positionals;
    const done = (v: { name?: string }) => `${action} ${v?.name ?? name}: ok\n`;
    const password = async (): Promise<string> => {
      if (!values['password-stdin']) throw new CliError('give the password on stdin with --password-stdin');
      return stdinLine();
    };
    switch (action) {
      case 'list':
        return run(
          values,
          () => call(values, 'GET', apiPaths.users()),
          (v: { users: UserView[] }) =>
            table([
              ['NAME', 'ADMIN', 'ROLES', 'DISABLED', 'CREATED'],
              ...v.users.map((u) => [u.name, String(u.admin), shownRoles(u), String(u.disabled), u.created]),
            ]),
        );
      case 'add': {
        if (!name) throw new CliError(USER_USAGE);
        const body = { name, password: await password(), admin: values['admin-user'] ?? false, roles: (values.role ?? []).map(role) };
        const powerless = (u: UserView) =>
          u.admin || u.roles.length ? '' : ` (no roles: it can log in and do nothing until \`georeg user update ${u.name} --role ...\`)`;
        return run(
          values,
          () => call(values, 'POST', apiPaths.users(), body),
          (u: UserView) => `add ${u.name}: ok${powerless(u)}\n`,
        );
      }
      case 'update': {
        if (!name) throw new CliError(USER_USAGE);
        const body = userChanges(values);
        return run(
          values,
          () => call(values, 'PATCH', apiPaths.user(name), body),
          (v: UserView) => `updated user ${v.name}: admin ${v.admin}, roles ${shownRoles(v)}\n`,
        );
      }
      case 'passwd': {
        if (!name) throw new CliError(USER_USAGE);
        const body = { password: await password() };
        return run(values, () => call(values, 'PATCH', apiPaths.user(name), body), done);
      }
      case 'disable':
      case 'enable':
        if (!name) throw new CliError(USER_USAGE);
        return run(values, () => call(values, 'PATCH', apiPaths.user(name), { disabled: action === 'disable' }), done);
      case 'delete':
        if (!name) throw new CliError(USER_USAGE);
        return run(
          values,
          () => call(values, 'DELETE', apiPaths.user(name)),
          () => `deleted user ${name}\n`,
        );
      default:
        throw new CliError(USER_USAGE);
    }
  },
};

const TOKEN_USAGE = `Usage: georeg token create NAME --scope 'REPO-GLOB:ACTIONS' [--scope ...] [--expires-in 30d]
       georeg token list
       georeg token disable|enable|delete NAME
ACTIONS: pull, push, delete, sign (push signatures only), metadata_read, metadata_write (comma-separated).
The token's secret is printed once, at creation: use NAME and it as registry credentials.
Options: --url URL (default ${DEFAULT_NODE_URL}), --admin NAME (default admin), --json
${AUTH_NOTE}
`;

export const tokenCommand: Command = {
  name: 'token',
  summary: 'manage repository-scoped tokens (ACR style: scope maps, expiry, disable)',
  async run(argv) {
    const { values, positionals } = parseOptions(argv, {
      ...common,
      scope: { type: 'string', multiple: true },
      'expires-in': { type: 'string' },
    });
    if (values.help) return (process.stdout.write(TOKEN_USAGE), 0);
    const [action, name] = positionals;
    switch (action) {
      case 'list':
        return run(
          values,
          () => call(values, 'GET', apiPaths.tokens()),
          (v: {
            tokens: { name: string; scopes: { repositories: string[]; actions: string[] }[]; disabled: boolean; expires: string | null }[];
          }) =>
            table([
              ['NAME', 'SCOPES', 'DISABLED', 'EXPIRES'],
              ...v.tokens.map((t) => [t.name, rules(t.scopes, (s) => s.actions), String(t.disabled), t.expires ?? 'never']),
            ]),
        );
      case 'create': {
        if (!name || !values.scope?.length) throw new CliError(TOKEN_USAGE);
        const body = { name, scopes: values.scope.map(scope), expiresInSeconds: values['expires-in'] ? seconds(values['expires-in']) : 0 };
        return run(
          values,
          () => call(values, 'POST', apiPaths.tokens(), body),
          (v: { name: string; secret: string; expires: string | null }) =>
            `token ${v.name} created (expires ${v.expires ?? 'never'}); its secret, shown only now:\n${v.secret}\n`,
        );
      }
      case 'disable':
      case 'enable':
        if (!name) throw new CliError(TOKEN_USAGE);
        return run(
          values,
          () => call(values, 'PATCH', apiPaths.token(name), { disabled: action === 'disable' }),
          () => `${action}d token ${name}\n`,
        );
      case 'delete':
        if (!name) throw new CliError(TOKEN_USAGE);
        return run(
          values,
          () => call(values, 'DELETE', apiPaths.token(name)),
          () => `deleted token ${name}\n`,
        );
      default:
        throw new CliError(TOKEN_USAGE);
    }
  },
};
