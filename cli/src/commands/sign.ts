import { readFile } from 'node:fs/promises';
import { parsePrivateKey, KeyError, keyIdOf } from 'georeg/trust';
import type { KeyObject } from 'node:crypto';
import { apiOptions, API_HELP, registryClient, timeoutMs } from '../connect.js';
import { CliError, parseOptions, type Command } from '../command.js';
import { parseImageRef, RegistryClient, RegistryError } from '../registry-client.js';
import { registryTrust, resolveTag, signTag } from '../signing.js';

const USAGE = `Usage: georeg sign <registry>/<repository>:<tag> --key NAME.key [options]

Signs the tag's current digest, pushing as OCI 1.1 referrers of that digest
  1. a cosign v3 image signature (sigstore bundle v0.3, DSSE, sign/v1), and
  2. a georeg tag binding: registry identity, repository, tag, digest and a
     sequence, so the signature cannot move to another tag or repository and
     an older binding reads as a rollback.

Options:
  --key FILE        PEM private key (ECDSA P-256 or RSA), e.g. from \`georeg key generate\`
  --identity NAME   registry identity to bind (default: the registry's policy
                    identity when it has one, else the host:port of the reference)
  --sequence N      binding sequence (default: the next after the highest seen;
                    a co-signer of the current binding reuses its sequence)
  --legacy-tag      also write cosign's sha256-<hex>.sig tag for older verifiers

A registry with authentication on is answered with the token flow, using georeg login (or GEOREG_USERNAME and GEOREG_PASSWORD)
(a user, or a token's name and secret) when set, anonymously otherwise.
${API_HELP}
`;

export async function loadPrivateKey(file: string): Promise<KeyObject> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (e) {
    throw new CliError(`cannot read key ${file}: ${(e as Error).message}`);
  }
  try {
    return parsePrivateKey(pem);
  } catch (e) {
    throw new CliError(`${file}: ${(e as KeyError).message}`);
  }
}

/** The identity bindings name: given, else the registry's own, else the reference's host. */
export async function identityFor(client: RegistryClient, given: string | undefined, registry: string): Promise<string> {
  return given ?? (await registryTrust(client))?.identity ?? registry;
}

export const signCommand: Command = {
  name: 'sign',
  summary: 'sign a tag: a cosign image signature and a georeg tag binding, as referrers',
  async run(argv) {
    const { values, positionals } = parseOptions(argv, {
      key: { type: 'string' },
      identity: { type: 'string' },
      sequence: { type: 'string' },
      'legacy-tag': { type: 'boolean' },
      ...apiOptions,
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (positionals.length !== 1) throw new CliError(`expected one image reference\n\n${USAGE}`);
    if (!values.key) throw new CliError('--key FILE is required');
    const ref = parseImageRef(positionals[0] as string);
    if (!ref.tag) throw new CliError('sign needs a tag: <registry>/<repository>:<tag> (the binding names it)');
    const sequence = values.sequence === undefined ? undefined : Number(values.sequence);
    if (sequence !== undefined && !(Number.isSafeInteger(sequence) && sequence >= 0))
      throw new CliError('--sequence must be a non-negative integer');
    const key = await loadPrivateKey(values.key);
    const client = await registryClient(ref.base, {
      caFile: values.ca,
      httpFallback: ref.httpFallback,
      timeoutMs: timeoutMs(values.timeout),
    });
    try {
      const subject = await resolveTag(client, ref.repository, ref.tag);
      if (ref.digest && ref.digest !== subject.digest)
        throw new CliError(`${ref.repository}:${ref.tag} points at ${subject.digest}, not ${ref.digest}`);
      const identity = await identityFor(client, values.identity, ref.registry);
      const r = await signTag({
        client,
        identity,
        repository: ref.repository,
        tag: ref.tag,
        subject,
        key,
        sequence,
        legacyTag: values['legacy-tag'],
      });
      process.stdout.write(
        `signed ${identity}/${ref.repository}:${ref.tag} ${subject.digest}\n` +
          `  key         ${keyIdOf(key)}\n  binding     ${r.binding} (sequence ${r.sequence})\n  signature   ${r.signature}\n` +
          (r.legacyTag ? `  legacy tag  ${r.legacyTag}\n` : ''),
      );
      return 0;
    } catch (e) {
      if (!(e instanceof RegistryError)) throw e;
      process.stderr.write(`georeg sign: ${e.message}\n`);
      return 1;
    }
  },
};
