import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ErrorTable } from 'georeg/oci';
import { codeSpans, markdownTable } from '../support/markdown-table.js';

/** docs/errors.md's table: `| kind | code | HTTP | gRPC | what it means, what to do |`, by kind. */
function documented(): Map<string, { code: string; status: number; grpc: string; meaning: string }> {
  const doc = readFileSync(new URL('../../../../docs/errors.md', import.meta.url), 'utf8');
  const rows = markdownTable(doc, '| kind | code | HTTP | gRPC | what it means, what to do |');
  return new Map(
    rows.map(([kind = '', code = '', status = '', grpc = '', meaning = '']) => [
      codeSpans(kind).join(),
      { code: codeSpans(code).join(), status: Number(status), grpc: codeSpans(grpc).join(), meaning },
    ]),
  );
}

describe('errors: docs/errors.md and the error table agree (as fastify tests its error docs)', () => {
  const docs = documented();

  it('documents every kind of the table, and no kind the table does not have', () => {
    assert.deepEqual([...docs.keys()].sort(), Object.keys(ErrorTable).sort());
  });

  it("gives each kind's code, HTTP status and gRPC status as the table has them, and says what it means", () => {
    for (const [kind, e] of Object.entries(ErrorTable)) {
      const row = docs.get(kind);
      assert.deepEqual(
        row && { code: row.code, status: row.status, grpc: row.grpc },
        { code: e.code, status: e.status, grpc: e.grpc },
        kind,
      );
      assert.ok(row?.meaning, `${kind}: no meaning given`);
    }
  });
});
