/**
 * Child process of azure-sdk-metadata.test.ts: the Azure SDK's ContainerRegistryClient with NO
 * credential (its anonymous constructor), trusting the test CA only through NODE_EXTRA_CA_CERTS.
 * Reads a tag's and its manifest's properties, then tries the catalog, which must be refused.
 * Prints one JSON line: the tag's digest, the manifest's architecture, the catalog's status.
 *
 * Usage: NODE_EXTRA_CA_CERTS=ca.pem node azure-sdk-anonymous-metadata.js <endpoint> <repository> <tag>
 */
import { ContainerRegistryClient } from '@azure/container-registry';

const [endpoint, repository, tag] = process.argv.slice(2);
if (!endpoint || !repository || !tag) throw new Error('usage: <endpoint> <repository> <tag>');
if (!process.env['NODE_EXTRA_CA_CERTS']) throw new Error('NODE_EXTRA_CA_CERTS is not set');

const client = new ContainerRegistryClient(endpoint, { retryOptions: { maxRetries: 0 } });
const artifact = client.getArtifact(repository, tag);
const tagProps = await artifact.getTagProperties(tag);
const manifest = await artifact.getManifestProperties();
let catalog: number | undefined;
try {
  for await (const name of client.listRepositoryNames()) void name;
} catch (e) {
  catalog = (e as { statusCode?: number }).statusCode;
}
process.stdout.write(JSON.stringify({ tagDigest: tagProps.digest, architecture: manifest.architecture, catalog }) + '\n');
