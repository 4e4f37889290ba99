/**
 * The few protobuf wire-format pieces the hand-written codecs of the bulk
 * messages need (blob-chunks.ts, ingest-parts.ts): varints of whole byte
 * counts, length-delimited fields, and skipping unknown fields.
 */

export function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    len++;
  }
  return len;
}

/** Write `n` (a safe non-negative integer) as a varint at `at`; returns the position after it. */
export function putVarint(buf: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  buf[at++] = n;
  return at;
}

/** Bytes a length-delimited field of `len` bytes takes, with its one-byte tag. */
export function delimitedLength(len: number): number {
  return 1 + varintLength(len) + len;
}

/** Write a length-delimited field with a one-byte tag; returns the position after it. */
export function putDelimited(buf: Buffer, at: number, tag: number, data: Uint8Array): number {
  buf[at++] = tag;
  at = putVarint(buf, at, data.length);
  buf.set(data, at);
  return at + data.length;
}

export class WireReader {
  at = 0;
  constructor(
    readonly buf: Buffer,
    /** The message's name, for errors. */
    readonly what: string,
  ) {}

  get done(): boolean {
    return this.at >= this.buf.length;
  }

  /** A varint of at most 2^53 - 1: larger (or negative int64) values are no byte counts. */
  varint(): number {
    let n = 0;
    for (let scale = 1; ; scale *= 0x80) {
      if (this.at >= this.buf.length) throw new Error(`${this.what}: truncated varint`);
      const b = this.buf[this.at++] as number;
      n += (b & 0x7f) * scale;
      if (!(b & 0x80)) break;
      if (scale > 2 ** 45) throw new Error(`${this.what}: varint out of range`);
    }
    if (!Number.isSafeInteger(n)) throw new Error(`${this.what}: varint out of range`);
    return n;
  }

  /** Any varint up to protobuf's 10 bytes (an unknown field may hold a negative int64 or a large uint64). */
  private skipVarint(): void {
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.buf.length) throw new Error(`${this.what}: truncated varint`);
      if (!((this.buf[this.at++] as number) & 0x80)) return;
    }
    throw new Error(`${this.what}: varint longer than 10 bytes`);
  }

  /** A length-delimited field as a view of the message (no copy). */
  bytes(): Buffer {
    const len = this.varint();
    if (this.at + len > this.buf.length) throw new Error(`${this.what}: truncated field`);
    const out = this.buf.subarray(this.at, this.at + len);
    this.at += len;
    return out;
  }

  /** Skip a field this codec does not know, as protobuf requires. */
  skip(wireType: number): void {
    if (wireType === 0) this.skipVarint();
    else if (wireType === 2) this.bytes();
    else if (wireType === 1 || wireType === 5) this.at += wireType === 1 ? 8 : 4;
    else throw new Error(`${this.what}: unsupported wire type ${wireType}`);
    if (this.at > this.buf.length) throw new Error(`${this.what}: truncated field`);
  }
}
