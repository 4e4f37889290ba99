/** Debian's Chromium for the page tests, started as on a machine with no network beyond loopback. */
export const CHROMIUM = process.env['GEOREG_CHROMIUM'] ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
