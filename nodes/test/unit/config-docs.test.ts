import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { defaultConfig, envName } from '../../src/config.js';
import { codeSpans, markdownTable } from '../support/markdown-table.js';

/** Every setting of the defaults as [dotted key, default]. */
function settings(obj: object, prefix = ''): [string, unknown][] {
  return Object.entries(obj).flatMap(([k, v]) =>
    typeof v === 'object' && v !== null ? settings(v as object, `${prefix}${k}.`) : [[`${prefix}${k}`, v] as [string, unknown]],
  );
}

interface Row {
  keys: string[];
  envs: string[];
  default: string;
}

/** The README's configuration table: `| setting | environment | default | meaning |`. */
function documented(): Row[] {
  const readme = readFileSync(new URL('../../../../README.md', import.meta.url), 'utf8');
  return markdownTable(readme, '| setting | environment | default | meaning |').map(([keys = '', envs = '', dflt = '']) => ({
    keys: codeSpans(keys),
    envs: codeSpans(envs),
    default: dflt,
  }));
}

/** How the table writes a default: `empty`, a value in backticks, a number, or `N MiB`. */
function shown(value: unknown): string[] {
  if (value === '') return ['empty'];
  if (typeof value === 'number' && value >= 1 << 20 && value % (1 << 20) === 0) return [`${value / (1 << 20)} MiB`, String(value)];
  return [`\`${String(value)}\``, String(value)];
}

describe('config: the README and the code agree (as fastify tests its error docs)', () => {
  const rows = documented();
  const defaults = new Map(settings(defaultConfig));

  it('documents every setting, and documents no setting that does not exist', () => {
    const listed = rows.flatMap((r) => r.keys);
    assert.deepEqual([...listed].sort(), [...defaults.keys()].sort());
  });

  it("names each setting's environment variable as the code reads it", () => {
    for (const r of rows) {
      r.envs.forEach((env, i) => assert.equal(env, envName(r.keys[i] as string), `${r.keys.join(', ')}`));
    }
  });

  it("gives each setting's default as the code has it", () => {
    for (const r of rows) {
      // A row of several settings gives one default for all, or one each (`8, 16`).
      const each = r.default.split(/,\s*/);
      r.keys.forEach((key, i) => {
        const said = each.length === r.keys.length ? (each[i] as string) : r.default;
        assert.ok(shown(defaults.get(key)).includes(said), `${key}: README says ${said}, the code ${JSON.stringify(defaults.get(key))}`);
      });
    }
  });
});
