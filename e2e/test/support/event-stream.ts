/**
 * A region's JetStream event stream read as a consumer outside georeg would: every message still
 * in it, with its Nats-Msg-Id and the few fields of its protobuf `Event` (proto/georeg/v1/
 * events.proto) a test compares with what was pushed, decoded from the wire format by hand (e2e
 * imports nothing of georeg's).
 */
import { connect } from 'nats';

/** Event.action values (events.proto). */
export const MANIFEST_PUT = 1;
export const TAG_PUT = 2;

export interface StreamEvent {
  seq: number;
  msgId: string;
  id: string;
  repository: string;
  action: number;
  digest: string;
  tag: string;
}

/** Every message of `stream` on the NATS server at `servers`, in stream order. */
export async function readStream(servers: string, stream: string): Promise<StreamEvent[]> {
  const nc = await connect({ servers });
  try {
    const jsm = await nc.jetstreamManager();
    const { state } = await jsm.streams.info(stream);
    const events: StreamEvent[] = [];
    for (let seq = state.first_seq; state.messages > 0 && seq <= state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq });
      events.push({ seq, msgId: m.header.get('Nats-Msg-Id'), ...decodeEvent(m.data) });
    }
    return events;
  } finally {
    await nc.close();
  }
}

/** Fields 1 (id), 3 (repository), 4 (action), 5 (digest) and 9 (tag) of an encoded Event; the rest skipped. */
function decodeEvent(buf: Uint8Array): Omit<StreamEvent, 'seq' | 'msgId'> {
  const out = { id: '', repository: '', action: 0, digest: '', tag: '' };
  const strings: Record<number, 'id' | 'repository' | 'digest' | 'tag'> = { 1: 'id', 3: 'repository', 5: 'digest', 9: 'tag' };
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = buf[pos++] as number;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  while (pos < buf.length) {
    const key = varint();
    const [field, wire] = [Math.floor(key / 8), key % 8];
    if (wire === 0) {
      const v = varint();
      if (field === 4) out.action = v;
    } else if (wire === 2) {
      const len = varint();
      const name = strings[field];
      if (name) out[name] = Buffer.from(buf.subarray(pos, pos + len)).toString('utf8');
      pos += len;
    } else if (wire === 1 || wire === 5) {
      pos += wire === 1 ? 8 : 4;
    } else throw new Error(`event: wire type ${wire} of field ${field} not expected`);
  }
  return out;
}
