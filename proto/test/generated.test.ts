import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { Action, Event } from '../index.js';

const protoDir = fileURLToPath(new URL('../../', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

/** The banner's tool versions (`//   protoc  v3.21.12`) say where the code was generated, not what it is. */
/**
 * Event bytes encoded by the generated code of the previous release (commit
 * 8238c69, when Event still had `repeated Reference references = 8`): a
 * MANIFEST_PUT with two references, and the same event without any.
 */
const previousRelease = (name: 'manifest-put-with-references' | 'manifest-put'): Buffer =>
  readFileSync(join(protoDir, 'test', 'fixtures', `${name}.bin`));

/** The numbers of a message's fields, in wire order. */
function fieldNumbers(bytes: Uint8Array): number[] {
  const reader = new BinaryReader(bytes);
  const numbers: number[] = [];
  while (reader.pos < reader.len) {
    const [no, type] = reader.tag();
    numbers.push(no);
    reader.skip(type, no);
  }
  return numbers;
}

/** The event both fixtures hold, references aside. */
const fixtureEvent = Event.fromPartial({
  id: '01J',
  origin: 'eu',
  repository: 'team/app',
  action: Action.MANIFEST_PUT,
  digest: `sha256:${'a'.repeat(64)}`,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  size: 321,
  timestamp: { wallMs: 1_800_000_000_000, logical: 3, region: 'eu' },
  subject: `sha256:${'c'.repeat(64)}`,
});

const withoutToolVersions = (code: string): string => code.replace(/^\/\/ {3}(protoc|protoc-gen-ts_proto) +v\S+$/gm, '//   $1');

describe('proto', () => {
  it("compares generated code without the tools' version banner", () => {
    const banner = (protoc: string): string =>
      `// versions:\n//   protoc-gen-ts_proto  v2.18.0\n//   protoc               ${protoc}\nexport {};\n`;
    assert.equal(withoutToolVersions(banner('v3.21.12')), withoutToolVersions(banner('v5.29.3')));
    assert.notEqual(withoutToolVersions(banner('v3.21.12')), withoutToolVersions(banner('v3.21.12').replace('export', 'import')));
  });

  it('committed generated code matches proto/ (run `npm run proto` after editing a .proto)', () => {
    const out = mkdtempSync(join(tmpdir(), 'georeg-proto-'));
    try {
      execFileSync('bash', [join(protoDir, 'generate.sh'), out], { stdio: 'pipe' });
      const committed = join(protoDir, 'gen');
      assert.deepEqual(files(out), files(committed), 'generated file list');
      for (const f of files(out)) {
        assert.equal(
          withoutToolVersions(readFileSync(join(committed, f), 'utf8')),
          withoutToolVersions(readFileSync(join(out, f), 'utf8')),
          `proto/gen/${f} is stale`,
        );
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('round-trips an event through the wire format', () => {
    const e = Event.fromPartial({ ...fixtureEvent, action: Action.TAG_PUT, tag: 'v1' });
    assert.deepEqual(Event.decode(Event.encode(e).finish()), e);
  });

  describe('Event without references (field 8, reserved): a region of the previous release and one of this one read each other', () => {
    it('reads an event of the previous release, skipping its references', () => {
      assert.deepEqual(fieldNumbers(previousRelease('manifest-put-with-references')), [1, 2, 3, 4, 5, 6, 7, 8, 8, 10, 11]);
      assert.deepEqual(Event.decode(previousRelease('manifest-put-with-references')), fixtureEvent);
    });

    it('writes, byte for byte, what the previous release wrote for the event with no references (which it reads back)', () => {
      assert.deepEqual(Buffer.from(Event.encode(fixtureEvent).finish()), previousRelease('manifest-put'));
      assert.deepEqual(
        Buffer.from(Event.encode(Event.decode(previousRelease('manifest-put-with-references'))).finish()),
        previousRelease('manifest-put'),
      );
    });
  });
});
