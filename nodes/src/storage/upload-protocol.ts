/** Messages between upload-writer.ts (main thread) and upload-worker.ts. */
export type Request =
  | { t: 'open'; seq: number; id: string; path: string; direct: boolean }
  | { t: 'write'; seq: number; id: string; buf: ArrayBuffer; len: number }
  | { t: 'close'; seq: number; id: string }
  | { t: 'digest'; seq: number; id: string; path: string; alg: string }
  | { t: 'forget'; seq: number; id: string };

export interface Response {
  seq: number;
  size?: number;
  hex?: string;
  /** A write's buffer, handed back for reuse. */
  buf?: ArrayBuffer;
  error?: { message: string; code?: string };
}

type Body<T> = T extends unknown ? Omit<T, 'seq'> : never;
export type RequestBody = Body<Request>;
