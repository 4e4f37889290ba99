/**
 * Root hooks of `npm run e2e:compose` (mocha --require): after the last compose e2e file, the
 * shared Docker host stops and its state goes (compose-host.ts), whether the files passed or not.
 */
import { stopComposeHost } from './compose-host.js';

export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(120_000);
    await stopComposeHost();
  },
};
