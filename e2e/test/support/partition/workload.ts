/**
 * The workload of a partition run: in every region, one after the other, pushes of small random
 * images, tag moves (an image pushed before, under another tag), deletes and pulls, on tags the
 * region owns and on "shared" tags two regions write. Every write is recorded with the times it
 * was sent and acknowledged; pulls check every digest they read.
 */
import { randomBytes } from 'node:crypto';
import { http, pushImage, sha256, type PushedImage } from 'georeg/test-support';
import { prng } from './schedule.js';

export const REPOS = ['part/r0', 'part/r1'];
const OWNED_TAGS = 3;
const SHARED_TAGS = 2;
/** A request not answered in this long counts as a write of unknown outcome. */
const TIMEOUT_MS = 15_000;

export interface Write {
  region: string;
  repo: string;
  tag: string;
  /** True for a tag two regions write. */
  shared: boolean;
  kind: 'put' | 'delete';
  /** The manifest put. */
  digest?: string;
  /** Date.now() when sent, and when acknowledged (absent: failed or unanswered, outcome unknown). */
  sent: number;
  acked?: number;
  error?: string;
}

/** One pull of a tag, as the workload saw it. */
export interface Pull {
  region: string;
  repo: string;
  tag: string;
  /** Date.now() when sent, and when its last answer came. */
  start: number;
  end: number;
  outcome: 'ok' | 'missing' | 'error' | 'corrupt';
  /** For a 404, the error body's detail (it names regions that could not be asked). */
  detail?: string;
}

export interface PullStats {
  ok: number;
  /** 404: the tag is not (yet) in that region. */
  missing: number;
  /** Digest mismatches, as messages (each one is a violation). */
  corrupt: string[];
  errors: number;
}

/** Tags `region` writes: its own, and the shared ones of each pair it is in. */
export function tagsOf(region: string, regions: string[]): { tag: string; shared: boolean }[] {
  const own = Array.from({ length: OWNED_TAGS }, (_, k) => ({ tag: `${region}-t${k}`, shared: false }));
  const shared = regions
    .filter((o) => o !== region)
    .flatMap((o) => {
      const [a, b] = [region, o].sort();
      return Array.from({ length: SHARED_TAGS }, (_, k) => ({ tag: `x-${a}-${b}-s${k}`, shared: true }));
    });
  return [...own, ...shared];
}

function withTimeout<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${TIMEOUT_MS} ms`)), TIMEOUT_MS)),
  );
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** GET a manifest and its blobs from `base` (following one redirect to a peer), checking every digest. */
export async function pullImage(base: string, repo: string, ref: string): Promise<Pick<Pull, 'outcome' | 'detail'>> {
  const m = await http('GET', `${base}/v2/${repo}/manifests/${ref}`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
  if (m.status === 404) return { outcome: 'missing', detail: m.body.toString('utf8').slice(0, 500) };
  if (m.status !== 200) return { outcome: 'error', detail: `manifest: ${m.status}` };
  const digest = m.header('docker-content-digest');
  if (sha256(m.body) !== digest)
    return { outcome: 'corrupt', detail: `${base} ${repo}:${ref}: manifest body is ${sha256(m.body)}, served as ${digest}` };
  const manifest = m.json<{ config: { digest: string }; layers: { digest: string }[] }>();
  for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
    let b = await http('GET', `${base}/v2/${repo}/blobs/${d}`);
    const location = b.header('location');
    if (b.status === 307 && location) b = await http('GET', location);
    if (b.status === 404) return { outcome: 'missing', detail: `blob ${d}: ${b.body.toString('utf8').slice(0, 500)}` };
    if (b.status !== 200) return { outcome: 'error', detail: `blob ${d}: ${b.status}` };
    if (sha256(b.body) !== d) return { outcome: 'corrupt', detail: `${base} ${repo} blob ${d}: content is ${sha256(b.body)}` };
  }
  return { outcome: 'ok' };
}

export class Workload {
  readonly writes: Write[] = [];
  readonly pulls: PullStats = { ok: 0, missing: 0, corrupt: [], errors: 0 };
  readonly pullLog: Pull[] = [];
  private stopped = false;
  private paused = false;
  private gate: Promise<void> = Promise.resolve();
  private openGate: () => void = () => undefined;
  /** Each region's operation under way (pause() awaits them). */
  private readonly current = new Map<string, Promise<void>>();
  private readonly loops: Promise<void>[] = [];

  constructor(
    private readonly regions: { name: string; url: string }[],
    private readonly seed: number,
  ) {}

  start(): void {
    this.regions.forEach((r, i) => this.loops.push(this.loop(r, prng(this.seed * 31 + i))));
  }

  /** Resolves once no operation is under way; none starts until resume(). */
  async pause(): Promise<void> {
    this.paused = true;
    this.gate = new Promise((res) => (this.openGate = res));
    await Promise.all(this.current.values());
  }

  resume(): void {
    this.paused = false;
    this.openGate();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.openGate();
    await Promise.all(this.loops);
  }

  private async loop(r: { name: string; url: string }, rand: () => number): Promise<void> {
    const names = this.regions.map((x) => x.name);
    const tags = tagsOf(r.name, names);
    const pushed = new Map<string, PushedImage[]>();
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)] as T;
    while (!this.stopped) {
      while (this.paused && !this.stopped) await this.gate;
      if (this.stopped) break;
      // No await between the check above and this: pause() either sees this operation or stops it starting.
      const op = this.operation(r, rand, pick, tags, pushed);
      this.current.set(r.name, op);
      await op;
      await new Promise((res) => setTimeout(res, 50 + rand() * 200));
    }
  }

  private async pull(r: { name: string; url: string }, repo: string, tag: string): Promise<void> {
    const start = Date.now();
    const got = await pullImage(r.url, repo, tag).catch((e: unknown) => ({ outcome: 'error' as const, detail: (e as Error).message }));
    this.pullLog.push({ region: r.name, repo, tag, start, end: Date.now(), ...got });
    if (got.outcome === 'ok') this.pulls.ok++;
    else if (got.outcome === 'missing') this.pulls.missing++;
    else if (got.outcome === 'corrupt') this.pulls.corrupt.push(got.detail ?? '');
    else this.pulls.errors++;
  }

  private async operation(
    r: { name: string; url: string },
    rand: () => number,
    pick: <T>(xs: T[]) => T,
    tags: { tag: string; shared: boolean }[],
    pushed: Map<string, PushedImage[]>,
  ): Promise<void> {
    const repo = pick(REPOS);
    const x = rand();
    const own = tags.filter((t) => !t.shared);
    const shared = tags.filter((t) => t.shared);
    if (x >= 0.85) {
      const all = this.regions.flatMap((o) =>
        tagsOf(
          o.name,
          this.regions.map((y) => y.name),
        ),
      );
      await this.pull(r, repo, pick(all).tag);
      return;
    }
    const target = x < 0.55 ? pick(own) : pick(shared);
    const del = x >= 0.45 && x < 0.55 ? true : x >= 0.75;
    const move = x >= 0.3 && x < 0.45 && (pushed.get(repo)?.length ?? 0) > 0;
    const w: Write = { region: r.name, repo, tag: target.tag, shared: target.shared, kind: del ? 'delete' : 'put', sent: Date.now() };
    try {
      if (del) {
        const res = await withTimeout(http('DELETE', `${r.url}/v2/${repo}/manifests/${target.tag}`));
        if (res.status === 404) return; // nothing to delete here: no write (issue 16, point 2)
        if (res.status !== 202) throw new Error(`DELETE: ${res.status} ${res.body.toString()}`);
      } else if (move) {
        const image = pick(pushed.get(repo) as PushedImage[]);
        w.digest = image.digest;
        const res = await withTimeout(
          http('PUT', `${r.url}/v2/${repo}/manifests/${target.tag}`, {
            body: image.manifest,
            headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
          }),
        );
        if (res.status !== 201) throw new Error(`PUT manifest: ${res.status} ${res.body.toString()}`);
      } else {
        const image = await withTimeout(pushImage(r.url, repo, target.tag, [randomBytes(256 + Math.floor(rand() * 4096))]));
        w.digest = image.digest;
        pushed.set(repo, [...(pushed.get(repo) ?? []).slice(-4), image]);
      }
      w.acked = Date.now();
    } catch (e) {
      w.error = (e as Error).message;
    }
    this.writes.push(w);
  }
}
