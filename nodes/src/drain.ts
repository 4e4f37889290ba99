import type { RecordStore } from './meta/store.js';

interface DrainRecord {
  drained: boolean;
  /** When it last changed (ISO 8601), and why, for the operator who finds it drained. */
  at: string;
  reason?: string;
}

/**
 * Whether this region is drained: taken out of routing for maintenance (`georeg region drain`).
 * Peers learn it from their health probes and send no client here (no blob redirect, no placed
 * client); the region still serves the clients that reach it and replicates as before. Kept in
 * the `routing` record store, so a restart during maintenance stays drained; never replicated
 * (each region is drained on its own).
 */
export class RegionDrain {
  private constructor(
    private readonly records: RecordStore<DrainRecord>,
    private state: DrainRecord | undefined,
  ) {}

  static async open(records: RecordStore<DrainRecord>): Promise<RegionDrain> {
    return new RegionDrain(records, await records.get(KEY));
  }

  get drained(): boolean {
    return this.state?.drained === true;
  }

  /** What GET /georeg/v1/routing shows of it. */
  get record(): DrainRecord {
    return this.state ?? { drained: false, at: '' };
  }

  /** Read the state again (another node of the region, sharing the store, may have changed it). */
  async refresh(): Promise<void> {
    this.state = await this.records.get(KEY);
  }

  async set(drained: boolean, reason?: string, now = new Date()): Promise<DrainRecord> {
    const next: DrainRecord = { drained, at: now.toISOString(), ...(reason && { reason }) };
    await this.records.put(KEY, next);
    this.state = next;
    return next;
  }
}

const KEY = 'drain';
