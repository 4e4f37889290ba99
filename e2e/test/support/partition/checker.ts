/**
 * What every region must hold once the network is whole: for each tag written, one value (a
 * manifest digest, or absent) the same in every region, with every blob of it held there and
 * intact. The value allowed is the last acknowledged write: a write sent after another was
 * acknowledged is the later one (the regions share this machine's clock, so its stamp is later
 * too); writes that overlap in time may win either way, and one whose outcome is unknown
 * (no answer) may have won.
 */
import { http, sha256 } from 'georeg/test-support';
import type { Write } from './workload.js';

export const ABSENT = 'absent';

export interface TagExpectation {
  repo: string;
  tag: string;
  shared: boolean;
  /** Values it may end on; undefined: any (an unanswered put whose manifest is unknown). */
  allowed?: Set<string>;
}

const keyOf = (repo: string, tag: string): string => `${repo}:${tag}`;

/** The values each tag written may end on, from the writes recorded. */
export function expectations(writes: Write[]): Map<string, TagExpectation> {
  const byTag = new Map<string, Write[]>();
  for (const w of writes) byTag.set(keyOf(w.repo, w.tag), [...(byTag.get(keyOf(w.repo, w.tag)) ?? []), w]);
  const out = new Map<string, TagExpectation>();
  for (const [key, ws] of byTag) {
    const first = ws[0] as Write;
    const acked = ws.filter((w) => w.acked !== undefined);
    // A write is superseded once another was sent after it was acknowledged.
    const live = ws.filter((w) => !acked.some((o) => o !== w && w.acked !== undefined && o.sent > w.acked));
    const values = live.map((w) => (w.kind === 'delete' ? ABSENT : w.digest));
    const allowed = values.includes(undefined) ? undefined : new Set(values as string[]);
    if (allowed && acked.length === 0) allowed.add(ABSENT); // nothing acknowledged: it may never have been written
    out.set(key, { repo: first.repo, tag: first.tag, shared: first.shared, ...(allowed && { allowed }) });
  }
  return out;
}

/** The tag's value in a region: a digest or ABSENT. */
async function valueIn(url: string, t: TagExpectation): Promise<string> {
  const res = await http('HEAD', `${url}/v2/${t.repo}/manifests/${t.tag}`, {
    headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  if (res.status === 404) return ABSENT;
  const digest = res.header('docker-content-digest');
  if (res.status !== 200 || !digest) throw new Error(`HEAD ${url}/v2/${t.repo}/manifests/${t.tag}: ${res.status}`);
  return digest;
}

export interface Convergence {
  /** Ms from the heal until every region agreed and held every blob; undefined: not within the wait. */
  ms?: number;
  /** Tags the regions disagreed on at the first poll, and ms until fewer did (replication at work again). */
  disagreed: number;
  progressMs?: number;
  violations: string[];
  tags: number;
}

/** Blobs of manifest `digest` readable in `url` with the right content: true, false (not there yet), or a corruption message. */
async function intact(url: string, repo: string, digest: string): Promise<true | false | string> {
  const m = await http('GET', `${url}/v2/${repo}/manifests/${digest}`, {
    headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  if (m.status !== 200) return false;
  if (sha256(m.body) !== digest) return `${url} ${repo}@${digest}: manifest content is ${sha256(m.body)}`;
  const manifest = m.json<{ config: { digest: string }; layers: { digest: string }[] }>();
  for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
    const b = await http('GET', `${url}/v2/${repo}/blobs/${d}`); // a 307 to a peer: not held here yet
    if (b.status !== 200) return false;
    if (sha256(b.body) !== d) return `${url} ${repo} blob ${d}: content is ${sha256(b.body)}`;
  }
  return true;
}

/**
 * Poll every region (every 200 ms) until all agree on every tag written and hold every blob of
 * the manifests they agree on, or `maxMs` pass; then check the values agreed on.
 */
export async function converge(
  regions: { name: string; url: string }[],
  writes: Write[],
  since: number,
  maxMs: number,
): Promise<Convergence> {
  const expected = [...expectations(writes).values()];
  const verified = new Set<string>();
  const violations = new Set<string>();
  let views: Map<string, string>[] = [];
  let ms: number | undefined;
  let disagreed: number | undefined;
  let progressMs: number | undefined;
  for (;;) {
    views = await Promise.all(
      regions.map(
        async (r) =>
          new Map(await Promise.all(expected.map(async (t) => [keyOf(t.repo, t.tag), await valueIn(r.url, t).catch(() => '?')] as const))),
      ),
    );
    const differing = expected.filter((t) => new Set(views.map((v) => v.get(keyOf(t.repo, t.tag)))).size > 1).length;
    disagreed ??= differing;
    if (progressMs === undefined && differing < disagreed) progressMs = Date.now() - since;
    const agreed = differing === 0;
    let held = agreed;
    if (agreed) {
      for (const t of expected) {
        const value = views[0]?.get(keyOf(t.repo, t.tag)) as string;
        if (value === ABSENT || value === '?') continue;
        for (const r of regions) {
          const key = `${r.name} ${t.repo}@${value}`;
          if (verified.has(key)) continue;
          const ok = await intact(r.url, t.repo, value).catch(() => false);
          if (typeof ok === 'string') violations.add(`corrupt: ${ok}`);
          if (ok === false) held = false;
          else verified.add(key);
        }
      }
    }
    if (held && !views.some((v) => [...v.values()].includes('?'))) {
      ms = Date.now() - since;
      break;
    }
    if (Date.now() - since > maxMs) break;
    await new Promise((res) => setTimeout(res, 200));
  }
  for (const t of expected) {
    const values = regions.map((r, i) => `${r.name}=${short(views[i]?.get(keyOf(t.repo, t.tag)))}`);
    const distinct = new Set(views.map((v) => v.get(keyOf(t.repo, t.tag))));
    const what = `${t.repo}:${t.tag}${t.shared ? ' (shared)' : ''}`;
    if (distinct.size > 1) violations.add(`no single winner: ${what}: ${values.join(' ')}`);
    else if (t.allowed && !t.allowed.has([...distinct][0] as string))
      violations.add(
        `${t.shared ? 'not the later acknowledged write' : 'acknowledged write lost'}: ${what} ends ${short([...distinct][0])}, allowed ${[...t.allowed].map(short).join(' or ')}`,
      );
  }
  return {
    ...(ms !== undefined && { ms }),
    disagreed: disagreed ?? 0,
    ...(progressMs !== undefined && { progressMs }),
    violations: [...violations],
    tags: expected.length,
  };
}

function short(v: string | undefined): string {
  return v?.startsWith('sha256:') ? v.slice(7, 19) : String(v);
}
