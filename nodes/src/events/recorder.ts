import { randomUUID } from 'node:crypto';
import { Action, Event } from 'georeg/proto';
import type { Digest } from 'georeg/oci';
import type { ManifestRecord } from '../meta/store.js';
import type { HlcTimestamp, HybridClock } from '../hlc.js';

/**
 * Builds the encoded events a region's changes produce. The registry services
 * hand them to the MetaStore with the change (the outbox); nothing here
 * publishes.
 */
export class EventRecorder {
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly clock: HybridClock,
    private readonly newId: () => string = randomUUID,
  ) {}

  get region(): string {
    return this.clock.region;
  }

  /** Tell listeners (the publisher) that events just reached the outbox. */
  committed(): void {
    for (const l of this.listeners) l();
  }

  onCommitted(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  manifestPut(repo: string, record: ManifestRecord): Uint8Array {
    return this.encode(repo, Action.MANIFEST_PUT, {
      digest: record.digest,
      mediaType: record.mediaType,
      size: record.size,
      subject: record.subject ?? '',
    });
  }

  /** A timestamp for a tag change: it goes both into the event and, as the tag's clock, into the store. */
  stamp(): HlcTimestamp {
    return this.clock.now();
  }

  tagPut(repo: string, tag: string, record: ManifestRecord, at: HlcTimestamp): Uint8Array {
    return this.encode(repo, Action.TAG_PUT, { tag, digest: record.digest, mediaType: record.mediaType, size: record.size, timestamp: at });
  }

  tagDelete(repo: string, tag: string, at: HlcTimestamp): Uint8Array {
    return this.encode(repo, Action.TAG_DELETE, { tag, timestamp: at });
  }

  manifestDelete(repo: string, digest: Digest): Uint8Array {
    return this.encode(repo, Action.MANIFEST_DELETE, { digest });
  }

  /** The whole trust policy document changed, at `at` (also its version). */
  policyPut(policy: string, at: HlcTimestamp): Uint8Array {
    return this.encode('', Action.POLICY_PUT, { policy, timestamp: at });
  }

  /** A user or token record changed (or was deleted), at `at`. */
  identityPut(key: string, record: string, at: HlcTimestamp): Uint8Array {
    return this.encode('', Action.IDENTITY_PUT, { identityKey: key, identity: record, timestamp: at });
  }

  /** A lock (of a repository, tag or manifest) changed, at `at`. */
  lockPut(key: string, record: string, at: HlcTimestamp): Uint8Array {
    return this.encode('', Action.LOCK_PUT, { lockKey: key, lock: record, timestamp: at });
  }

  private encode(repository: string, action: Action, fields: Partial<Event>): Uint8Array {
    const event = Event.fromPartial({
      ...fields,
      id: this.newId(),
      origin: this.clock.region,
      repository,
      action,
      timestamp: fields.timestamp ?? this.clock.now(),
    });
    return Event.encode(event).finish();
  }
}
