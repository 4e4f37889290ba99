/** Where progress goes: process.stderr, or anything shaped like it. */
export interface ProgressOutput {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Progress of a push: told the total, the bytes as they go, and each blob as it is done. */
export interface Progress {
  begin(totalBytes: number, blobs: number): void;
  bytes(n: number): void;
  /** A blob is done: pushed, or skipped because the registry already had it. */
  blob(digest: string, size: number, result: 'pushed' | 'skipped'): void;
  end(): void;
}

export const silentProgress: Progress = { begin() {}, bytes() {}, blob() {}, end() {} };

const MiB = 1024 * 1024;
const REDRAW_MS = 100;

function mib(n: number): string {
  return `${(n / MiB).toFixed(1)} MiB`;
}

/** `512 B`, `3.4 KiB`, `1.0 MiB`. */
function formatBytes(n: number): string {
  return n < 1024 ? `${n} B` : n < MiB ? `${(n / 1024).toFixed(1)} KiB` : mib(n);
}

/** A redrawn bar on a terminal; otherwise one line per blob. */
export function createProgress(out: ProgressOutput = process.stderr): Progress {
  return out.isTTY ? new Bar(out) : new BlobLines(out);
}

class BlobLines implements Progress {
  constructor(private readonly out: ProgressOutput) {}
  begin(): void {}
  bytes(): void {}
  blob(digest: string, size: number, result: 'pushed' | 'skipped'): void {
    this.out.write(`${digest} ${formatBytes(size)} ${result === 'pushed' ? 'pushed' : 'already there'}\n`);
  }
  end(): void {}
}

class Bar implements Progress {
  private total = 0;
  private done = 0;
  private sent = 0;
  private blobs = 0;
  private blobsDone = 0;
  private started = Date.now();
  private drawn = 0;
  private ended = false;

  constructor(private readonly out: ProgressOutput) {}

  begin(totalBytes: number, blobs: number): void {
    this.total = totalBytes;
    this.blobs = blobs;
    this.started = Date.now();
    this.draw(true);
  }

  bytes(n: number): void {
    this.sent += n;
    this.done += n;
    this.draw(false);
  }

  blob(_digest: string, size: number, result: 'pushed' | 'skipped'): void {
    if (result === 'skipped') this.done += size;
    this.blobsDone++;
    this.draw(true);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.draw(true);
    this.out.write('\n');
  }

  private draw(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.drawn < REDRAW_MS) return;
    this.drawn = now;
    const fraction = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    const seconds = (now - this.started) / 1000;
    const rate = seconds > 0 ? this.sent / seconds : 0;
    const text = `${(this.done / MiB).toFixed(1)}/${mib(this.total)}  ${Math.floor(fraction * 100)}%  ${mib(rate)}/s  ${this.blobsDone}/${this.blobs} blobs`;
    const width = Math.max(10, Math.min(40, (this.out.columns || 80) - text.length - 4));
    const filled = Math.round(fraction * width);
    this.out.write(`\r[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${text}\x1b[K`);
  }
}
