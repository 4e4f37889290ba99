/**
 * Hybrid logical clock (Kulkarni et al.): timestamps that follow wall time, never
 * go backwards, and order causally related events even across skewed clocks.
 * Ties between regions are broken by region id, so every region that compares
 * two timestamps picks the same winner.
 */
export interface HlcTimestamp {
  wallMs: number;
  logical: number;
  region: string;
}

export function compareHlc(a: HlcTimestamp, b: HlcTimestamp): number {
  if (a.wallMs !== b.wallMs) return a.wallMs < b.wallMs ? -1 : 1;
  if (a.logical !== b.logical) return a.logical < b.logical ? -1 : 1;
  return a.region < b.region ? -1 : a.region > b.region ? 1 : 0;
}

export class HybridClock {
  private wallMs = 0;
  private logical = 0;

  constructor(
    readonly region: string,
    private readonly physical: () => number = Date.now,
  ) {}

  /** A timestamp for a local event, later than every one this clock has issued or seen. */
  now(): HlcTimestamp {
    const pt = this.physical();
    if (pt > this.wallMs) {
      this.wallMs = pt;
      this.logical = 0;
    } else {
      this.logical++;
    }
    return { wallMs: this.wallMs, logical: this.logical, region: this.region };
  }

  /** Fold in a timestamp received from another region (so later local events order after it). */
  observe(remote: HlcTimestamp): void {
    const pt = this.physical();
    const wall = Math.max(this.wallMs, remote.wallMs, pt);
    if (wall === this.wallMs && wall === remote.wallMs) this.logical = Math.max(this.logical, remote.logical) + 1;
    else if (wall === this.wallMs) this.logical++;
    else if (wall === remote.wallMs) this.logical = remote.logical + 1;
    else this.logical = 0;
    this.wallMs = wall;
  }
}
