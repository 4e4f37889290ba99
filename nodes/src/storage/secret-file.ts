import { readFileSync } from 'node:fs';
import { ConfigError } from '../config.js';

/**
 * A secret (an account key) read from the file a setting names, trimmed. It is kept only where it is
 * used: never in the config, never in an error, whose message names the setting and the file.
 */
export function readSecretFile(setting: string, file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new ConfigError(`${setting}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
