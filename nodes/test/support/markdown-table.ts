import assert from 'node:assert/strict';

/**
 * The rows of the markdown table whose header line is `header` in `text`: each row its cells,
 * trimmed (an escaped `\|` stays inside its cell). For tests that hold a document to the code.
 */
export function markdownTable(text: string, header: string): string[][] {
  const start = text.indexOf(header);
  assert.ok(start >= 0, `no table with the header ${header}`);
  const lines = text.slice(start).split('\n').slice(2);
  const end = lines.findIndex((l) => !l.startsWith('|'));
  return lines.slice(0, end < 0 ? lines.length : end).map((line) =>
    line
      .split(/(?<!\\)\|/)
      .slice(1, -1)
      .map((c) => c.trim()),
  );
}

/** The texts in backticks of a cell. */
export const codeSpans = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
