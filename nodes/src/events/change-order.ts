import { compareHlc, type HlcTimestamp } from '../hlc.js';

/** How a change stamped `at` stands against the last change a tag or record saw (`held`). */
export type ChangeOrder = 'newer' | 'replay' | 'older' | 'ahead';

/**
 * Last writer wins: the one rule of tags and of the named record stores. A change newer than
 * the one held applies; the same clock is a replay; an older one is a conflict lost. A change or
 * a held state without a clock cannot be ordered: the change applies. With `latestMs`, a change
 * stamped later than that wall time is refused ('ahead'): it would outlive every later change.
 */
export function changeOrder(at: HlcTimestamp | undefined, held: HlcTimestamp | undefined, latestMs = Infinity): ChangeOrder {
  if (at && at.wallMs > latestMs) return 'ahead';
  if (!at || !held) return 'newer';
  const order = compareHlc(at, held);
  return order > 0 ? 'newer' : order < 0 ? 'older' : 'replay';
}
