import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import {
  bindingOf,
  BundleError,
  compileTrust,
  evaluateDigest,
  evaluateTag,
  PolicyError,
  verifyBundle,
  type Evidence,
  type TagBinding,
  type Trust,
  type TrustDocument,
  type VerifiedStatement,
} from 'georeg/trust';
import { MediaTypes } from 'georeg/oci';
import { apiOptions, API_HELP, registryClient, timeoutMs } from '../connect.js';
import { CliError, parseOptions, type Command } from '../command.js';
import { parseImageRef, RegistryClient, RegistryError, type ImageRef } from '../registry-client.js';
import { registryTrust, resolveTag, statementOf, tagTrustState } from '../signing.js';
import { table } from './status.js';

const USAGE = `Usage: georeg verify <registry>/<repository>:<tag>|@<digest> [--key PUB.pem]... [--identity NAME] [--json]

Prints who signed which tag and digest. With --key, signatures are checked
against those public keys (one is enough); without, against the keys and the
policy of the registry's trust document. The exit status is 0 only when the
reference verifies AND the registry serves it (its policy does not refuse it).
--json prints the same as one JSON object (reference, digest, signatures, verified, registry).

A registry with authentication on is answered with the token flow, using georeg login (or GEOREG_USERNAME and GEOREG_PASSWORD)
(a user, or a token's name and secret) when set, anonymously otherwise.
${API_HELP}
`;

/** A key named for its file (`ci.pub`: ci); a name taken by an earlier --key gets its position (`2-ci`). */
async function readKey(file: string, i: number, files: string[]): Promise<{ name: string; publicKey: string }> {
  const nameOf = (f: string): string =>
    basename(f)
      .replace(/\.(pub|pem)$/, '')
      .replace(/[^A-Za-z0-9._-]/g, '_')
      .slice(0, 60);
  const taken = files.slice(0, i).some((f) => nameOf(f) === nameOf(file));
  const name = taken ? `${i + 1}-${nameOf(file)}` : nameOf(file);
  try {
    return { name, publicKey: await readFile(file, 'utf8') };
  } catch (e) {
    throw new CliError(`cannot read ${file}: ${(e as Error).message}`);
  }
}

/** A trust document of the given public keys, any one of which verifies. */
async function keysFromFiles(files: string[], identity: string | undefined): Promise<Trust> {
  const keys = await Promise.all(files.map(readKey));
  return compile({
    ...(identity !== undefined && { identity }),
    keys,
    policies: [{ repositories: ['**'], mode: 'enforce', keys: keys.map((k) => k.name) }],
  });
}

function compile(doc: TrustDocument): Trust {
  try {
    return compileTrust(doc);
  } catch (e) {
    throw new CliError((e as PolicyError).message);
  }
}

function bindingOrNothing(e: VerifiedStatement): TagBinding | undefined {
  try {
    return bindingOf(e.statement, e.digest);
  } catch {
    return undefined;
  }
}

/** The registry's answer to a pull of the reference: served, or why not. */
async function registryVerdict(client: RegistryClient, ref: ImageRef): Promise<string | undefined> {
  try {
    if (await client.headManifest(ref.repository, ref.tag ?? (ref.digest as string))) return undefined;
    return 'no such manifest';
  } catch (e) {
    if (e instanceof RegistryError && e.status === 403) {
      const get = await client.getManifest(ref.repository, ref.tag ?? (ref.digest as string)).catch((g: unknown) => g);
      return get instanceof Error ? get.message : 'refused';
    }
    throw e;
  }
}

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'show who signed a tag or digest; non-zero exit when it does not verify',
  async run(argv) {
    const { values, positionals } = parseOptions(argv, {
      key: { type: 'string', multiple: true },
      identity: { type: 'string' },
      json: { type: 'boolean' },
      ...apiOptions,
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (positionals.length !== 1) throw new CliError(`expected one image reference\n\n${USAGE}`);
    const ref = parseImageRef(positionals[0] as string);
    if (!ref.tag && !ref.digest) throw new CliError('give a tag or a digest');
    const client = await registryClient(ref.base, {
      caFile: values.ca,
      httpFallback: ref.httpFallback,
      timeoutMs: timeoutMs(values.timeout),
    });
    try {
      // The registry identity is checked only when given or when the registry's policy names one.
      const checked = values.identity ?? (await registryTrust(client))?.identity;
      const identity = checked ?? ref.registry;
      let trust: Trust;
      if (values.key?.length) trust = await keysFromFiles(values.key, checked);
      else {
        const doc = await registryTrust(client);
        if (!doc || doc.keys.length === 0)
          throw new CliError('no keys to verify with: pass --key PUB.pem (the registry publishes no trust policy keys)');
        trust = compile(doc);
      }
      const policy = trust.policyFor(ref.repository);
      if (!policy || policy.mode === 'off')
        throw new CliError(`the registry's trust policy does not cover ${ref.repository}: pass --key PUB.pem`);
      const digest = ref.tag ? (await resolveTag(client, ref.repository, ref.tag)).digest : (ref.digest as string);
      if (ref.tag && ref.digest && ref.digest !== digest)
        throw new CliError(`${ref.repository}:${ref.tag} points at ${digest}, not ${ref.digest}`);

      const rows = [['TYPE', 'SIGNER', 'TAG', 'SEQUENCE', 'STATUS']];
      const bindings: Evidence[] = [];
      const all: Evidence[] = [];
      for (const artifactType of [MediaTypes.tagBinding, MediaTypes.sigstoreBundle]) {
        for (const d of await client.referrers(ref.repository, digest, artifactType)) {
          let e: Evidence;
          try {
            e = verifyBundle((await statementOf(client, ref.repository, d.digest)).bundle, trust.publicKeys);
          } catch (err) {
            e = err instanceof BundleError ? err : new BundleError('malformed', (err as Error).message);
          }
          (artifactType === MediaTypes.tagBinding ? bindings : all).push(e);
          const signer = e instanceof BundleError ? (e.keyId ?? '?') : (trust.keysById.get(e.keyId)?.name ?? e.keyId);
          const b = !(e instanceof BundleError) && artifactType === MediaTypes.tagBinding ? bindingOrNothing(e) : undefined;
          rows.push([
            artifactType === MediaTypes.tagBinding ? 'binding' : 'image',
            signer,
            b ? `${b.repository}:${b.tag}` : '',
            b ? String(b.sequence) : '',
            e instanceof BundleError ? e.problem : 'signature ok',
          ]);
        }
      }
      const now = Date.now();
      const decision = ref.tag
        ? evaluateTag(
            trust,
            policy,
            { repository: ref.repository, tag: ref.tag, digest },
            bindings,
            (await tagTrustState(client, ref.repository, ref.tag))?.highestSequence ?? 0,
            now,
          )
        : evaluateDigest(trust, policy, ref.repository, digest, [...all, ...bindings], now);
      const verdict = await registryVerdict(client, ref);
      if (values.json) {
        const [head, ...body] = rows as [string[], ...string[][]];
        const signatures = body.map((r) => Object.fromEntries(head.map((h, i) => [h.toLowerCase(), r[i]])));
        const reference = `${identity}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''}`;
        const out = { reference, digest, signatures, verified: decision.allowed, result: decision.result, message: decision.message };
        process.stdout.write(
          `${JSON.stringify({ ...out, registry: verdict === undefined ? 'serves it' : `refuses it: ${verdict}` }, null, 2)}\n`,
        );
        return decision.allowed && verdict === undefined ? 0 : 1;
      }
      process.stdout.write(`${identity}/${ref.repository}${ref.tag ? `:${ref.tag}` : ''} -> ${digest}\n`);
      if (rows.length > 1) process.stdout.write(table(rows));
      process.stdout.write(
        decision.allowed ? `verified: ${decision.message}\n` : `NOT VERIFIED (${decision.result}): ${decision.message}\n`,
      );
      process.stdout.write(verdict === undefined ? 'registry: serves it\n' : `registry: refuses it: ${verdict}\n`);
      return decision.allowed && verdict === undefined ? 0 : 1;
    } catch (e) {
      if (!(e instanceof RegistryError)) throw e;
      process.stderr.write(`georeg verify: ${e.message}\n`);
      return 1;
    }
  },
};
