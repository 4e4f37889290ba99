import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { apiPaths } from 'georeg/oci';
import { CliError, parseOptions, type Command } from '../command.js';

const DEFAULT_HOSTS = 'localhost,127.0.0.1,::1';
const DEFAULT_DAYS = 365;

const USAGE = `Usage: georeg certs dev --out DIR [--hosts ${DEFAULT_HOSTS}] [--days ${DEFAULT_DAYS}] [--force]

Makes a throwaway certificate authority and certificates signed by it, for local
clusters and tests (never for production), with the openssl command:

  ca.pem, ca.key          the CA (trust ca.pem in clients)
  server.pem, server.key  a server certificate (serverAuth) for --hosts: DNS names
                          and IP addresses, as subjectAltNames
  client.pem, client.key  a client certificate (clientAuth, CN=georeg-peer), for
                          mutual TLS between regions

Keys are ECDSA P-256, PKCS#8 PEM, mode 0600. Existing files are not overwritten
without --force.

Options:
  --out DIR        where to write (created if missing)
  --hosts LIST     comma-separated names and addresses (default ${DEFAULT_HOSTS})
  --days N         validity in days (default ${DEFAULT_DAYS})
  --force          overwrite existing files
  -h, --help       this text
`;

const FILES = ['ca.pem', 'ca.key', 'server.pem', 'server.key', 'client.pem', 'client.key'] as const;
type FileName = (typeof FILES)[number];

/** A DNS name (a leading `*.` wildcard allowed) that is safe to put into an openssl config line. */
const DNS_NAME = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$/;

/** Each host as a subjectAltName entry: `DNS:name` or `IP:address`. */
export function subjectAltNames(hosts: string): string[] {
  const list = hosts
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h !== '');
  if (list.length === 0) throw new CliError('--hosts must name at least one host');
  return list.map((h) => {
    const ip = h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
    if (isIP(ip)) return `IP:${ip}`;
    if (!DNS_NAME.test(h) || h.length > 253) throw new CliError(`--hosts: ${JSON.stringify(h)} is neither an IP address nor a DNS name`);
    return `DNS:${h}`;
  });
}

function opensslConfig(sans: string[]): string {
  return [
    '[req]',
    'distinguished_name = dn',
    'prompt = no',
    '[dn]',
    '[ca_ext]',
    'basicConstraints = critical, CA:TRUE, pathlen:0',
    'keyUsage = critical, keyCertSign, cRLSign',
    'subjectKeyIdentifier = hash',
    '[server_ext]',
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    'extendedKeyUsage = serverAuth',
    `subjectAltName = ${sans.join(', ')}`,
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid, issuer',
    // The peer certificate of mutual TLS between regions: each region serves with it and connects with it.
    '[client_ext]',
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    'extendedKeyUsage = serverAuth, clientAuth',
    `subjectAltName = ${sans.join(', ')}`,
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid, issuer',
    '',
  ].join('\n');
}

/** Runs `openssl args...` (no shell); its stderr becomes the error message. */
function openssl(args: string[]): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    execFile('openssl', args, { timeout: 60_000, encoding: 'utf8' }, (err, _stdout, stderr) => {
      if (!err) return resolvePromise();
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new CliError('the openssl command is not installed (Debian package: openssl)'));
      } else {
        reject(new CliError(`openssl ${args[0]} failed: ${stderr.trim() || err.message}`));
      }
    });
  });
}

const serial = (): string => `0x${randomBytes(16).toString('hex')}`;

/** Generates the six files in `work` (a private temp dir). */
async function generate(work: string, sans: string[], days: number): Promise<void> {
  const p = (f: string): string => join(work, f);
  const cnf = p('openssl.cnf');
  await writeFile(cnf, opensslConfig(sans), { mode: 0o600 });
  const newKey = (f: string): Promise<void> =>
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p(f)]);
  await Promise.all([newKey('ca.key'), newKey('server.key'), newKey('client.key')]);
  const ca = `georeg dev CA ${randomBytes(4).toString('hex')}`;
  await openssl([
    'req',
    '-config',
    cnf,
    '-new',
    '-x509',
    '-sha256',
    '-key',
    p('ca.key'),
    '-subj',
    `/CN=${ca}`,
    '-days',
    String(days),
    '-set_serial',
    serial(),
    '-extensions',
    'ca_ext',
    '-out',
    p('ca.pem'),
  ]);
  const issue = async (name: 'server' | 'client', cn: string): Promise<void> => {
    await openssl(['req', '-config', cnf, '-new', '-sha256', '-key', p(`${name}.key`), '-subj', `/CN=${cn}`, '-out', p(`${name}.csr`)]);
    await openssl([
      'x509',
      '-req',
      '-sha256',
      '-in',
      p(`${name}.csr`),
      '-CA',
      p('ca.pem'),
      '-CAkey',
      p('ca.key'),
      '-set_serial',
      serial(),
      '-days',
      String(days),
      '-extfile',
      cnf,
      '-extensions',
      `${name}_ext`,
      '-out',
      p(`${name}.pem`),
    ]);
  };
  const firstName = (sans[0] as string).replace(/^(DNS|IP):/, '');
  await Promise.all([issue('server', firstName), issue('client', 'georeg-peer')]);
}

/** Write a throwaway CA and server and client certificates for `hosts` into `out`; returns the subject alternative names. */
export async function writeDevCerts(out: string, hostList: string, days: number, force: boolean): Promise<string[]> {
  const sans = subjectAltNames(hostList);
  const target = (f: FileName): string => join(out, f);
  if (!force) {
    const existing: string[] = [];
    for (const f of FILES) if (await stat(target(f)).catch(() => undefined)) existing.push(f);
    if (existing.length)
      throw new CliError(`${existing.join(', ')} exist${existing.length === 1 ? 's' : ''} in ${out} (use --force to overwrite)`);
  }
  const work = await mkdtemp(join(tmpdir(), 'georeg-certs-'));
  try {
    await generate(work, sans, days);
    const contents = await Promise.all(FILES.map((f) => readFile(join(work, f))));
    await mkdir(out, { recursive: true });
    for (const f of FILES) if (force) await rm(target(f), { force: true }); // new files: keys get 0600 whatever the old ones had
    for (const [i, f] of FILES.entries()) {
      await writeFile(target(f), contents[i] as Buffer, { mode: f.endsWith('.key') ? 0o600 : 0o644, flag: 'wx' });
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST')
      throw new CliError(`${(e as NodeJS.ErrnoException).path} appeared meanwhile; not overwritten`);
    throw e;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return sans;
}

export const certsCommand: Command = {
  name: 'certs',
  summary: 'make a throwaway CA and TLS certificates for local clusters and tests',
  async run(argv) {
    const { values, positionals } = parseOptions(argv, {
      out: { type: 'string' },
      hosts: { type: 'string', default: DEFAULT_HOSTS },
      days: { type: 'string', default: String(DEFAULT_DAYS) },
      force: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (positionals[0] !== 'dev' || positionals.length !== 1) throw new CliError(`expected \`certs dev\`\n\n${USAGE}`);
    if (!values.out) throw new CliError('--out DIR is required');
    const days = Number(values.days);
    if (!/^\d{1,5}$/.test(values.days) || days < 1 || days > 3650) throw new CliError('--days must be a whole number from 1 to 3650');
    const out = resolve(values.out);
    const target = (f: FileName): string => join(out, f);
    const sans = await writeDevCerts(out, values.hosts, days, values.force ?? false);
    const hosts = sans.map((s) => s.replace(/^(DNS|IP):/, ''));
    const port = `${hosts[0]?.includes(':') ? `[${hosts[0]}]` : hosts[0]}:5000`;
    process.stdout.write(
      [
        `wrote to ${out} (valid ${days} days; a throwaway CA: trust it only for tests):`,
        `  ca.pem, ca.key          the CA`,
        `  server.pem, server.key  server certificate for ${hosts.join(', ')}`,
        `  client.pem, client.key  peer certificate CN=georeg-peer (server and client) for mutual TLS between regions`,
        '',
        'Serve HTTPS:',
        `  GEOREG_TLS_CERT=${target('server.pem')} GEOREG_TLS_KEY=${target('server.key')} georeg serve`,
        'Trust the CA in georeg and other Node.js clients:',
        `  NODE_EXTRA_CA_CERTS=${target('ca.pem')} georeg status --url https://${port}`,
        'skopeo (reads CAs as *.crt from a --cert-dir):',
        `  mkdir -p certs.d && cp ${target('ca.pem')} certs.d/ca.crt`,
        `  skopeo inspect --cert-dir certs.d docker://${port}/REPO:TAG`,
        `curl: curl --cacert ${target('ca.pem')} https://${port}${apiPaths.base()}`,
        '',
      ].join('\n'),
    );
    return 0;
  },
};
