import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Action, Event } from '../index.js';

const protoDir = fileURLToPath(new URL('../../', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

/** The banner's tool versions (`//   protoc  v3.21.12`) say where the code was generated, not what it is. */
const withoutToolVersions = (code: string): string => code.replace(/^\/\/ {3}(protoc|protoc-gen-ts_proto) +v\S+$/gm, '//   $1');

describe('proto', () => {
  it('compares generated code without the tools\' version banner', () => {
    const banner = (protoc: string): string => `// versions:\n//   protoc-gen-ts_proto  v2.18.0\n//   protoc               ${protoc}\nexport {};\n`;
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
        assert.equal(withoutToolVersions(readFileSync(join(committed, f), 'utf8')), withoutToolVersions(readFileSync(join(out, f), 'utf8')), `proto/gen/${f} is stale`);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('round-trips an event through the wire format', () => {
    const e = Event.fromPartial({
      id: '01J',
      origin: 'eu',
      repository: 'team/app',
      action: Action.TAG_PUT,
      digest: `sha256:${'a'.repeat(64)}`,
      tag: 'v1',
      references: [{ digest: `sha256:${'b'.repeat(64)}`, size: 5, mediaType: 'x/y', manifest: false }],
      timestamp: { wallMs: 1_800_000_000_000, logical: 3, region: 'eu' },
    });
    assert.deepEqual(Event.decode(Event.encode(e).finish()), e);
  });
});
