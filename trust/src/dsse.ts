import type { KeyObject } from 'node:crypto';
import { DSSEBundleBuilder } from '@sigstore/sign';
import { BUNDLE_V03_MEDIA_TYPE, bundleFromJSON, bundleToJSON, type Bundle } from '@sigstore/bundle';
import { Verifier, toSignedEntity } from '@sigstore/verify';
import { keyIdOf, signBytes } from './keys.js';
import { MediaTypes } from 'georeg/oci';
import { parseStatement, type Statement } from './statements.js';

/** Why a bundle is not acceptable, as a stable code for policy messages and metrics. */
export type BundleProblem = 'malformed' | 'untrusted-key' | 'bad-signature';

export class BundleError extends Error {
  override name = 'BundleError';
  constructor(
    readonly problem: BundleProblem,
    message: string,
    /** The key hint the bundle names, when it names one. */
    readonly keyId?: string,
  ) {
    super(message);
  }
}

/**
 * Sign an in-toto statement offline: a sigstore bundle v0.3 holding a DSSE
 * envelope, keyed by public-key hint (no certificate, no transparency log, no
 * timestamp authority: nothing here touches the network).
 */
export async function signStatement(statement: Statement, privateKey: KeyObject): Promise<Buffer> {
  const keyId = keyIdOf(privateKey);
  const builder = new DSSEBundleBuilder({
    signer: {
      sign: async (data) => ({ signature: signBytes(privateKey, data), key: { $case: 'publicKey', publicKey: '', hint: keyId } }),
    },
    witnesses: [],
  });
  const bundle = await builder.create({ data: Buffer.from(JSON.stringify(statement)), type: MediaTypes.inToto });
  return Buffer.from(JSON.stringify(bundleToJSON(bundle)));
}

export interface VerifiedStatement {
  statement: Statement;
  /** The statement's one subject digest. */
  digest: string;
  keyId: string;
}

function decode(bytes: Buffer): Bundle {
  try {
    return bundleFromJSON(JSON.parse(bytes.toString('utf8')));
  } catch (e) {
    throw new BundleError('malformed', `not a sigstore bundle: ${(e as Error).message}`);
  }
}

/**
 * Verify a keyed DSSE bundle against `keys` (by key id) with sigstore's own
 * verifier, set for offline use (no log, timestamp or certificate required);
 * returns the signed statement. Key validity and revocation are the policy's job.
 */
export function verifyBundle(bytes: Buffer, keys: ReadonlyMap<string, KeyObject>): VerifiedStatement {
  const bundle = decode(bytes);
  if (bundle.mediaType !== BUNDLE_V03_MEDIA_TYPE) throw new BundleError('malformed', `unsupported bundle media type ${bundle.mediaType}`);
  const material = bundle.verificationMaterial.content;
  if (material.$case !== 'publicKey')
    throw new BundleError('malformed', 'bundle is not signed by a key (certificate bundles are not supported)');
  if (bundle.content.$case !== 'dsseEnvelope') throw new BundleError('malformed', 'bundle holds no DSSE envelope');
  const keyId = material.publicKey.hint;
  const key = keys.get(keyId);
  if (!key) throw new BundleError('untrusted-key', `signed by key ${keyId}, which is not a known key`, keyId);
  const envelope = bundle.content.dsseEnvelope;
  if (envelope.payloadType !== MediaTypes.inToto)
    throw new BundleError('malformed', `unexpected payload type ${envelope.payloadType}`, keyId);
  const verifier = new Verifier(
    {
      certificateAuthorities: [],
      timestampAuthorities: [],
      tlogs: [],
      ctlogs: [],
      publicKey: () => ({ publicKey: key, validFor: () => true }),
    },
    { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 },
  );
  try {
    verifier.verify(toSignedEntity(bundle));
  } catch (e) {
    throw new BundleError('bad-signature', `signature does not verify: ${(e as Error).message}`, keyId);
  }
  try {
    return { ...parseStatement(Buffer.from(envelope.payload)), keyId };
  } catch (e) {
    throw new BundleError('malformed', (e as Error).message, keyId);
  }
}
