import type { Attributes } from 'georeg/nodes';
import { apiOptions, API_HELP, registryClient, timeoutMs } from '../connect.js';
import { CliError, parseOptions, type Command } from '../command.js';
import { describeLocks } from '../locks.js';
import { parseImageRef, RegistryClient, RegistryError, type AcrProperties, type ImageRef } from '../registry-client.js';
import { humanBytes, table } from './status.js';

/** How the commands on ACR's properties name their one argument. */
export const TARGET = 'REGISTRY/REPOSITORY[:TAG|@DIGEST]';

const USAGE = `Usage: georeg show ${TARGET} [--json] [--ca FILE] [--timeout SECONDS]

Shows a repository, a tag or a manifest as ACR's metadata API (/acr/v1) and the Azure SDK see it:
  a repository: how many tags and manifests it holds, when it was created and last updated, its locks
  a tag: the digest it points at, when it was created and last moved, its locks
  a manifest (@DIGEST): the image's size, its platform (an index: its platforms), its tags,
    when it was pushed and last updated, its locks
Locks (ACR's changeable attributes) are set by \`georeg lock\` and \`georeg unlock\`; a lock on a
repository holds for everything in it, whatever its tags and manifests show.
--json prints the registry's answer as it is.

A node with authentication on wants credentials that may read metadata (every role may):
georeg login (or GEOREG_USERNAME and GEOREG_PASSWORD).
${API_HELP}
`;

/** The one reference a command on ACR's properties takes: a repository, a tag or a manifest, not a tag and a digest at once. */
export function targetOf(positionals: string[], usage: string): ImageRef {
  if (positionals.length !== 1) throw new CliError(`give one ${TARGET}\n\n${usage}`);
  const ref = parseImageRef(positionals[0] as string);
  if (ref.tag !== undefined && ref.digest !== undefined)
    throw new CliError(
      `give a tag or a digest, not both: ${ref.registry}/${ref.repository}:${ref.tag} or ${ref.registry}/${ref.repository}@${ref.digest}`,
    );
  return ref;
}

/** Asks the registry `ref` names (with --ca and --timeout); a 404 says what is missing and what to do. */
export async function askRegistry(
  ref: ImageRef,
  values: { ca?: string; timeout?: string },
  call: (client: RegistryClient) => Promise<AcrProperties>,
): Promise<AcrProperties> {
  const client = await registryClient(ref.base, {
    caFile: values.ca,
    timeoutMs: timeoutMs(values.timeout),
    httpFallback: ref.httpFallback,
  });
  try {
    return await call(client);
  } catch (e) {
    if (!(e instanceof RegistryError) || e.status !== 404) throw e;
    throw new RegistryError(notFound(ref, e), e.status, e.code, e.detail, { cause: e });
  }
}

function notFound(ref: ImageRef, e: RegistryError): string {
  const repository = `${ref.registry}/${ref.repository}`;
  switch (e.code) {
    case 'NAME_UNKNOWN':
      return `no repository ${repository}: check its name, or push to it first`;
    case 'MANIFEST_UNKNOWN':
      return ref.tag !== undefined
        ? `no tag ${ref.tag} in ${repository}: check the tag, or push it first`
        : `no manifest ${ref.digest} in ${repository}: check the digest (\`georeg show ${repository}:TAG\` shows the one a tag points at)`;
    default:
      return `${ref.registry} does not answer ACR's metadata API, /acr/v1 (another registry, or a georeg of an earlier release): ${e.message}`;
  }
}

/** The changeable attributes (locks) of what the properties are of. */
export function attributesOf(p: AcrProperties): Attributes {
  if ('tag' in p) return p.tag.changeableAttributes;
  if ('manifest' in p) return p.manifest.changeableAttributes;
  return p.changeableAttributes;
}

/** The properties as label and value lines, under the reference as given. */
export function formatProperties(ref: string, p: AcrProperties): string {
  if ('tag' in p) {
    const t = p.tag;
    return table([
      ['tag', ref],
      ['digest', t.digest],
      ['created', t.createdTime],
      ['updated', t.lastUpdateTime],
      ['locks', describeLocks(t.changeableAttributes)],
    ]);
  }
  if ('manifest' in p) {
    const m = p.manifest;
    const platform = (x: { os?: string; architecture?: string }): string => `${x.os ?? '?'}/${x.architecture ?? '?'}`;
    return table([
      ['manifest', ref],
      ['media type', m.mediaType],
      ['size', humanBytes(m.imageSize)],
      ...(m.architecture !== undefined || m.os !== undefined ? [['platform', platform(m)]] : []),
      ...(m.references ?? []).map((r, i) => [i === 0 ? 'platforms' : '', `${platform(r)}  ${r.digest}`]),
      ['tags', m.tags.join(', ') || '-'],
      ['created', m.createdTime],
      ['updated', m.lastUpdateTime],
      ['locks', describeLocks(m.changeableAttributes)],
    ]);
  }
  return table([
    ['repository', ref],
    ['tags', String(p.tagCount)],
    ['manifests', String(p.manifestCount)],
    ['created', p.createdTime],
    ['updated', p.lastUpdateTime],
    ['locks', describeLocks(p.changeableAttributes)],
  ]);
}

export const showCommand: Command = {
  name: 'show',
  summary: "a repository's, tag's or manifest's properties and locks, as ACR's API and the Azure SDK see them",
  async run(argv) {
    const { values, positionals } = parseOptions(argv, { ...apiOptions, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
    if (values.help) {
      process.stdout.write(USAGE);
      return 0;
    }
    const ref = targetOf(positionals, USAGE);
    const props = await askRegistry(ref, values, (client) => client.acrProperties(ref));
    process.stdout.write(values.json ? JSON.stringify(props, null, 2) + '\n' : formatProperties(positionals[0] as string, props));
    return 0;
  },
};
