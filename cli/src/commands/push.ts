import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { isTag } from 'georeg/oci';
import { apiOptions, CA_HELP, registryClient, timeoutMs } from '../connect.js';
import { CliError, parseOptions, type Command } from '../command.js';
import { LayoutError, openLayout, pushPlan, type Layout } from '../oci-layout.js';
import { createProgress, silentProgress, type Progress } from '../progress.js';
import { parseImageRef, RegistryClient, RegistryError, type ManifestHead } from '../registry-client.js';
import { keyIdOf } from 'georeg/trust';
import { signTag } from '../signing.js';
import { identityFor, loadPrivateKey } from './sign.js';

const PARALLEL_BLOBS = 4;

const USAGE = `Usage: georeg push LAYOUT_DIR[:TAG] REGISTRY/REPOSITORY:TAG [--sign --key FILE [--identity NAME] [--legacy-tag]]

Pushes an image, or a multi-platform index with its images, from an OCI image layout directory:
the blobs first (at most ${PARALLEL_BLOBS} at once, skipping those the registry has), then the manifests, the
top one under TAG. LAYOUT_DIR:TAG picks the manifest whose org.opencontainers.image.ref.name is
TAG; without it the layout must hold exactly one. The registry is spoken to over plain HTTP when
it is localhost, 127.0.0.1 or [::1] (or given as http://HOST), over HTTPS otherwise.

Prints "pushed REGISTRY/REPOSITORY:TAG DIGEST"; progress goes to stderr.

A registry with authentication on is answered with the token flow, using georeg login (or GEOREG_USERNAME and GEOREG_PASSWORD)
(a user, or a token's name and secret) when set, anonymously otherwise.

--sign signs the tag as \`georeg sign\` does (image signature and tag binding) after the
manifest is up by digest and before the tag is set, so the tag is never visible unsigned.
${CA_HELP}
--timeout SECONDS: how long to wait for an answer, and how long a blob's upload may go without
progress (default 10).
`;

/**
 * Pushes the layout's picked manifest with everything it references; returns
 * the top manifest's descriptor. With `beforeTag` (signing), the top manifest
 * goes up by digest first and gets its tag only after `beforeTag` ran, so
 * replicas receive signatures before the tag they sign.
 */
export async function pushLayout(
  client: RegistryClient,
  layout: Layout,
  repo: string,
  tag: string,
  progress: Progress = silentProgress,
  beforeTag?: (top: ManifestHead) => Promise<void>,
): Promise<ManifestHead> {
  const plan = await pushPlan(layout);
  progress.begin(
    plan.blobs.reduce((n, b) => n + b.size, 0),
    plan.blobs.length,
  );
  try {
    await eachLimited(plan.blobs, PARALLEL_BLOBS, async (b) => {
      const result = await client.pushBlob(
        repo,
        b.digest,
        b.size,
        () => createReadStream(layout.blobPath(b.digest)),
        (n) => progress.bytes(n),
      );
      progress.blob(b.digest, b.size, result);
    });
  } finally {
    progress.end();
  }
  const top = layout.descriptor;
  const result = { digest: top.digest, mediaType: top.mediaType, size: top.size };
  for (const m of plan.manifests) {
    const bytes = await layout.readBytes(m.digest);
    if (m.digest !== top.digest) await client.putManifest(repo, m.digest, bytes, m.mediaType);
    else {
      if (beforeTag) {
        await client.putManifest(repo, m.digest, bytes, m.mediaType);
        await beforeTag(result);
      }
      await client.putManifest(repo, tag, bytes, m.mediaType);
    }
  }
  return result;
}

/** Runs fn over items, at most `limit` at once; after a failure starts no more, lets the running ones finish, then throws it. */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (e) {
        next = items.length;
        throw e;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** `DIR:TAG` → { dir, tag }, split at the last colon only when what follows is a tag and the whole is not a directory. */
export async function splitLayoutArg(arg: string): Promise<{ dir: string; tag?: string }> {
  const colon = arg.lastIndexOf(':');
  const tag = arg.slice(colon + 1);
  if (colon <= 0 || !isTag(tag)) return { dir: arg };
  if ((await stat(arg).catch(() => undefined))?.isDirectory()) return { dir: arg };
  return { dir: arg.slice(0, colon), tag };
}

/** Failures of the push itself (registry, layout, file system) as opposed to bugs. */
function isPushFailure(e: unknown): e is Error {
  return (
    e instanceof RegistryError ||
    e instanceof LayoutError ||
    (e instanceof Error && typeof (e as NodeJS.ErrnoException).syscall === 'string')
  );
}

export const pushCommand: Command = {
  name: 'push',
  summary: 'push an image from an OCI image layout directory: georeg push DIR[:TAG] REGISTRY/REPO:TAG',
  async run(argv) {
    const { values, positionals } = parseOptions(argv, {
      sign: { type: 'boolean' },
      key: { type: 'string' },
      identity: { type: 'string' },
      'legacy-tag': { type: 'boolean' },
      ...apiOptions,
      help: { type: 'boolean', short: 'h' },
    });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const [source, destination, ...extra] = positionals;
    if (source === undefined || destination === undefined || extra.length > 0) {
      throw new CliError('expected LAYOUT_DIR[:TAG] REGISTRY/REPOSITORY:TAG (see georeg push --help)');
    }
    const ref = parseImageRef(destination);
    const tagName = ref.tag;
    if (tagName === undefined || ref.digest !== undefined)
      throw new CliError(`give the destination as REGISTRY/REPOSITORY:TAG, not ${JSON.stringify(destination)}`);
    if (Boolean(values.sign) !== Boolean(values.key)) throw new CliError('--sign and --key FILE go together');
    const key = values.key ? await loadPrivateKey(values.key) : undefined;
    try {
      const { dir, tag } = await splitLayoutArg(source);
      const layout = await openLayout(dir, tag);
      const client = await registryClient(ref.base, {
        caFile: values.ca,
        httpFallback: ref.httpFallback,
        timeoutMs: timeoutMs(values.timeout),
      });
      let signed = '';
      const sign =
        key &&
        (async (subject: ManifestHead) => {
          const identity = await identityFor(client, values.identity, ref.registry);
          const r = await signTag({
            client,
            identity,
            repository: ref.repository,
            tag: tagName,
            subject,
            key,
            legacyTag: values['legacy-tag'],
          });
          signed = `signed with key ${keyIdOf(key)}: binding ${r.binding} (sequence ${r.sequence}), signature ${r.signature}\n`;
        });
      const pushed = await pushLayout(client, layout, ref.repository, tagName, createProgress(process.stderr), sign);
      process.stdout.write(`pushed ${ref.registry}/${ref.repository}:${tagName} ${pushed.digest}\n${signed}`);
      return 0;
    } catch (e) {
      if (!isPushFailure(e)) throw e;
      process.stderr.write(`georeg push: ${e.message}\n`);
      return 1;
    }
  },
};
