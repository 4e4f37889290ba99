/**
 * Child process of azure-sdk.test.ts: the Azure SDK's content client with NO credential, trusting
 * the test CA only through NODE_EXTRA_CA_CERTS (set by the parent before this process starts; no
 * `tlsOptions` here). Pulls a manifest (by tag) and a blob, then tries a push, which must be
 * refused. Prints one JSON line with what it saw; exits 0 unless something unexpected happened.
 *
 * Usage: NODE_EXTRA_CA_CERTS=ca.pem node azure-sdk-anonymous.js <endpoint> <repository> <tag> <blob digest>
 */
import { createHash } from 'node:crypto';
import { ContainerRegistryContentClient } from '@azure/container-registry';

type TokenCredential = ConstructorParameters<typeof ContainerRegistryContentClient>[2];

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as string));
  return Buffer.concat(chunks);
}

const [endpoint, repository, tag, blobDigest] = process.argv.slice(2);
if (!endpoint || !repository || !tag || !blobDigest) throw new Error('usage: <endpoint> <repository> <tag> <blob digest>');
if (!process.env['NODE_EXTRA_CA_CERTS']) throw new Error('NODE_EXTRA_CA_CERTS is not set');

// The content client's typings require a credential, but at run time an absent one means anonymous
// access (ContainerRegistryRefreshTokenCredential.isAnonymousAccess: token requests use
// grant_type=password with an empty refresh_token), as ContainerRegistryClient's anonymous constructor does.
const client = new ContainerRegistryContentClient(endpoint, repository, undefined as unknown as TokenCredential, {
  retryOptions: { maxRetries: 0 },
});

const manifest = await client.getManifest(tag);
const blob = await client.downloadBlob(blobDigest);
const blobBytes = await readAll(blob.content);

let push: { refused: boolean; statusCode?: number; code?: string; message?: string };
try {
  await client.uploadBlob(Buffer.from('an anonymous push'));
  push = { refused: false };
} catch (e) {
  const err = e as { statusCode?: number; code?: string; message?: string };
  push = { refused: true, statusCode: err.statusCode, code: err.code, message: err.message?.slice(0, 300) };
}

process.stdout.write(
  JSON.stringify({
    manifest: {
      digest: manifest.digest,
      mediaType: manifest.mediaType,
      sha256: createHash('sha256').update(manifest.content).digest('hex'),
    },
    blob: { digest: blob.digest, length: blobBytes.length, sha256: createHash('sha256').update(blobBytes).digest('hex') },
    push,
  }) + '\n',
);
