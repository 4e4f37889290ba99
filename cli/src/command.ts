import { parseArgs, type ParseArgsConfig } from 'node:util';

type Parsed<T extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>>;

export interface Command {
  name: string;
  summary: string;
  run(argv: string[]): Promise<number>;
}

/** The node the commands that talk to one ask unless given --url. */
export const DEFAULT_NODE_URL = 'http://127.0.0.1:5000';

/** A usage mistake: printed without a stack trace, exit status 2. */
export class CliError extends Error {
  override name = 'CliError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs with usage errors turned into one-line CliErrors: an unknown flag names the closest known one. */
export function parseOptions<T extends Options>(argv: string[], options: T): Parsed<T> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    const err = e as Error & { code?: string };
    const flag = /'(-[^' ]*)/.exec(err.message)?.[1];
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag) {
      const near = closest(flag.replace(/^-+/, '').split('=')[0] as string, Object.keys(options));
      throw new CliError(`unknown option ${flag}${near ? ` (did you mean --${near}?)` : ''}; --help lists the options`);
    }
    if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && flag) throw new CliError(`${flag} needs a value; --help says which`);
    throw new CliError(`${err.message.split('. ')[0] ?? err.message}; --help says what it takes`);
  }
}

/** The candidate nearest `word` (at most 2 edits, or a prefix either way), if one is. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const distance = (a: string, b: string): number => {
    let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      const row = [i];
      for (let j = 1; j <= b.length; j++)
        row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = row;
    }
    return prev[b.length] as number;
  };
  const scored = candidates
    .map((c) => ({ c, d: c.startsWith(word) || word.startsWith(c) ? 1 : distance(word, c) }))
    .filter((x) => x.d <= 2)
    .sort((a, b) => a.d - b.d);
  return scored[0]?.c;
}

/** Options shared by the commands that open a node's configuration. */
export const configOptions = {
  config: { type: 'string' },
  data: { type: 'string' },
  listen: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies Options;

export function configOverrides(values: { data?: string; listen?: string }): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  if (values.data !== undefined) o.data = values.data;
  if (values.listen !== undefined) o.listen = values.listen;
  return o;
}

/** Standard input to its end, without one trailing newline (a password given with --password-stdin). */
export async function stdinLine(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}
