import { createHash } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import type { BlobStream } from 'georeg/nodes';
import type { Digest } from 'georeg/oci';
import type { PeerClient } from './peer-client.js';
import { nearestFirst, type HealthOf } from './peer-health.js';
import type { RegionStore } from './region-store.js';

/**
 * A blob this region does not hold, for a client that cannot be sent to a region that holds it
 * (none of those has a publicUrl its clients reach, or redirects are off): streamed from the
 * nearest peer that holds it in the same repository, to the client while it is stored here. The
 * peer's bytes go to both. The client's copy is checked against the digest as it passes, and its
 * last bytes are held back until the check: a copy with other content ends the answer short
 * (the client sees a broken body, never a wrong one). The stored copy is verified and committed
 * as any replicated blob (a failed one leaves nothing visible).
 */
export async function streamBlob(
  clients: PeerClient[],
  health: HealthOf,
  store: RegionStore,
  repo: string,
  digest: Digest,
): Promise<BlobStream | undefined> {
  const near = nearestFirst(
    clients.filter((p) => health(p.region).up),
    health,
  );
  const stats = await Promise.all(near.map((p) => p.statBlob(repo, digest).catch(() => undefined)));
  const i = stats.findIndex((s) => s?.present === true);
  const peer = near[i];
  if (!peer) return undefined;
  const size = Number(stats[i]?.size);
  const source = peer.readBlob(repo, digest, 0, size);
  const toClient = new PassThrough();
  const toStore = new PassThrough();
  let first = true;
  void store
    .ingestBlob(repo, digest, (offset) => {
      const mine = first && offset === 0;
      first = false;
      if (mine) return toStore;
      toStore.resume(); // the store resumes a copy of its own: the client's goes on without it
      return peer.readBlob(repo, digest, offset, size);
    })
    // Once the store is done with it (or never took it: the blob arrived meanwhile), the client's side flows on alone.
    .then(
      () => toStore.resume(),
      () => toStore.resume(),
    );
  tee(source, toClient, toStore, digest);
  return { size, stream: toClient };
}

/** `source` to both: the client's side checked against `digest`, its last chunk held until then; back-pressure from either. */
function tee(source: Readable, client: PassThrough, store: PassThrough, digest: Digest): void {
  const [algorithm, hex] = digest.split(':') as [string, string];
  const hash = createHash(algorithm);
  let held: Buffer | undefined;
  const sinks = new Set([client, store]);
  const forget = (s: PassThrough): void => {
    sinks.delete(s);
    if (sinks.size === 0) source.destroy();
  };
  client.once('close', () => forget(client));
  store.once('close', () => forget(store));
  source.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    let full = false;
    if (sinks.has(store)) full = !store.write(chunk) || full;
    if (held && sinks.has(client)) full = !client.write(held) || full;
    held = chunk;
    if (!full) return;
    source.pause();
    const waiting = [...sinks].filter((s) => s.writableNeedDrain);
    let left = waiting.length;
    if (left === 0) source.resume();
    for (const s of waiting)
      s.once('drain', () => {
        if (--left === 0) source.resume();
      });
  });
  source.once('end', () => {
    store.end();
    if (hash.digest('hex') !== hex) return void client.destroy(new Error(`the peer's copy of ${digest} has other content`));
    if (held) client.write(held);
    client.end();
  });
  source.once('error', (e) => {
    store.destroy(e);
    client.destroy(e);
  });
}
