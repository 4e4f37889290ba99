/**
 * Node's process warnings, printed as Node prints them, but for one that says nothing an operator
 * can act on: grpc-js passes a peer region's address as the TLS ServerName also when it is an IP
 * address (DEP0123, repeated by every replication connection); the certificate is still checked
 * against that address.
 */
const IGNORED = new Set(['DEP0123']);

export function quietWarnings(): void {
  process.removeAllListeners('warning');
  process.on('warning', (w: Error & { code?: string }) => {
    if (w.code !== undefined && IGNORED.has(w.code)) return;
    process.stderr.write(`(node:${process.pid}) ${w.code ? `[${w.code}] ` : ''}${w.name}: ${w.message}\n`);
  });
}
