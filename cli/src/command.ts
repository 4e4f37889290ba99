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

/** parseArgs with usage errors turned into CliErrors. */
export function parseOptions<T extends Options>(argv: string[], options: T): Parsed<T> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new CliError((e as Error).message);
  }
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
