import { readFileSync } from 'node:fs';

/** georeg's version, from package.json (nodes/dist/src/version.js is three levels below it). */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;
