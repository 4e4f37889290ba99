import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';

/** Key algorithms georeg signs with: the ones sigstore's DSSE verification accepts. */
export const KEY_ALGORITHMS = ['ecdsa-p256', 'rsa-2048', 'rsa-3072'] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

export interface GeneratedKey {
  /** PKCS#8 PEM. */
  privatePem: string;
  /** SPKI PEM. */
  publicPem: string;
  keyId: string;
}

/** A problem with key material: unreadable PEM, a private key where a public one belongs, an unsupported algorithm. */
export class KeyError extends Error {
  override name = 'KeyError';
}

/** The key id sigstore and cosign use as the bundle's key hint: base64(sha256(SPKI DER)). */
export function keyIdOf(key: KeyObject): string {
  const pub = key.type === 'public' ? key : createPublicKey(key);
  const der = pub.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64');
}

export function generateKey(algorithm: KeyAlgorithm = 'ecdsa-p256'): GeneratedKey {
  const pair =
    algorithm === 'ecdsa-p256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : generateKeyPairSync('rsa', { modulusLength: algorithm === 'rsa-2048' ? 2048 : 3072 });
  return {
    privatePem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    keyId: keyIdOf(pair.publicKey),
  };
}

/** Only P-256 ECDSA and RSA (PKCS#1 v1.5, SHA-256) keys: what DSSE verification in sigstore checks. */
function checkAlgorithm(key: KeyObject): KeyObject {
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec' && d?.namedCurve === 'prime256v1') return key;
  if (key.asymmetricKeyType === 'rsa' && (d?.modulusLength ?? 0) >= 2048) return key;
  throw new KeyError(
    `unsupported key: ${key.asymmetricKeyType ?? 'unknown'}${d?.namedCurve ? ` ${d.namedCurve}` : ''} (use ECDSA P-256 or RSA >= 2048)`,
  );
}

export function parsePrivateKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (e) {
    throw new KeyError(`not a PEM private key: ${(e as Error).message}`);
  }
  return checkAlgorithm(key);
}

export function parsePublicKey(pem: string): KeyObject {
  if (/PRIVATE KEY/.test(pem)) throw new KeyError('expected a public key, got a private key');
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (e) {
    throw new KeyError(`not a PEM public key: ${(e as Error).message}`);
  }
  return checkAlgorithm(key);
}

/** SHA-256 signature: DER ECDSA, or RSA PKCS#1 v1.5 (node's default RSA padding). */
export function signBytes(key: KeyObject, data: Buffer): Buffer {
  return cryptoSign('sha256', data, key);
}
