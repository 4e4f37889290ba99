import { rm, stat, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { generateKey, KEY_ALGORITHMS, type KeyAlgorithm } from 'georeg/trust';
import { CliError, parseOptions, type Command } from '../command.js';

const USAGE = `Usage: georeg key generate --out NAME [--algorithm ${KEY_ALGORITHMS.join('|')}]

Writes NAME.key (PKCS#8 PEM private key, mode 0600) and NAME.pub (SPKI PEM
public key) and prints the key id: base64(sha256(SPKI DER)), the hint sigstore
and cosign bundles carry, and the key's entry for a trust policy file beside
it ("publicKeyFile" is read relative to the policy file). The default algorithm is ECDSA P-256; RSA keys sign
with PKCS#1 v1.5 and SHA-256.
`;

export const keyCommand: Command = {
  name: 'key',
  summary: 'generate a signing key pair for `georeg sign`',
  async run(argv) {
    const { values, positionals } = parseOptions(argv, {
      out: { type: 'string' },
      algorithm: { type: 'string', default: 'ecdsa-p256' },
      force: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (positionals[0] !== 'generate' || positionals.length !== 1) throw new CliError(`expected \`key generate\`\n\n${USAGE}`);
    if (!values.out) throw new CliError('--out NAME is required');
    if (!KEY_ALGORITHMS.includes(values.algorithm as KeyAlgorithm))
      throw new CliError(`--algorithm must be one of ${KEY_ALGORITHMS.join(', ')}`);
    const key = generateKey(values.algorithm as KeyAlgorithm);
    const files = [`${values.out}.key`, `${values.out}.pub`];
    for (const f of files) {
      if (!values.force && (await stat(f).catch(() => undefined))) throw new CliError(`${f} exists (use --force to overwrite)`);
      // A new file, so the private key gets mode 0600 whatever the old one had.
      if (values.force) await rm(f, { force: true });
    }
    try {
      await writeFile(files[0] as string, key.privatePem, { mode: 0o600, flag: 'wx' });
      await writeFile(files[1] as string, key.publicPem, { mode: 0o644, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST')
        throw new CliError(`${(e as NodeJS.ErrnoException).path} appeared meanwhile; nothing overwritten`);
      throw e;
    }
    const entry = JSON.stringify({ name: basename(values.out), publicKeyFile: `${basename(values.out)}.pub` });
    process.stdout.write(
      `private key: ${values.out}.key\npublic key:  ${values.out}.pub\nkey id:      ${key.keyId}\npolicy key:  ${entry}\n`,
    );
    return 0;
  },
};
