// The most a blob copy over gRPC in Node can reach on this machine: Node's own HTTP/2 (which
// grpc-js runs on) over loopback, one stream from a sending process into a receiver that hashes
// every byte, nothing written to disk, no gRPC framing. Used by bench/replication.mjs; run alone
// (`node bench/h2-ceiling.mjs [MiB]`) it prints the rate and the receiver's CPU seconds per GiB.
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import http2 from 'node:http2';
import { fileURLToPath } from 'node:url';

const MiB = 1024 * 1024;
const window = 4 * MiB; // the same stream window as georeg's peer connections

function serve(mib) {
  const chunk = Buffer.alloc(MiB, 7);
  const server = http2.createServer({ settings: { initialWindowSize: window } });
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200 });
    let sent = 0;
    const pump = () => {
      while (sent < mib) {
        sent++;
        if (!stream.write(chunk)) return stream.once('drain', pump);
      }
      stream.end();
    };
    pump();
  });
  server.listen(0, '127.0.0.1', () => process.send(server.address().port));
}

/** Streams `mib` MiB from a child process; resolves { rate (MiB/s), cpuPerGiB (receiver's CPU s per GiB) }. */
export async function h2Ceiling(mib) {
  const child = fork(fileURLToPath(import.meta.url), ['--serve', String(mib)], { stdio: 'ignore' });
  try {
    const port = await new Promise((resolve, reject) => {
      child.once('message', resolve);
      child.once('error', reject);
    });
    const session = http2.connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: window } });
    session.once('remoteSettings', () => session.setLocalWindowSize(window));
    const pull = () =>
      new Promise((resolve, reject) => {
        const hash = createHash('sha256');
        let n = 0;
        const req = session.request({ ':path': '/' });
        req.on('data', (c) => {
          n += c.length;
          hash.update(c);
        });
        req.on('end', () => {
          hash.digest();
          resolve(n);
        });
        req.on('error', reject);
      });
    await pull(); // warm-up: the nodes it stands for have been serving for a while
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const bytes = await pull();
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    session.close();
    return { rate: bytes / MiB / seconds, cpuPerGiB: (cpu.user + cpu.system) / 1e6 / (bytes / 1024 / MiB) };
  } finally {
    child.kill();
  }
}

if (process.argv[2] === '--serve') serve(Number(process.argv[3]));
else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { rate, cpuPerGiB } = await h2Ceiling(Number(process.argv[2] ?? 1024));
  console.log(`Node HTTP/2 over loopback into sha256: ${rate.toFixed(0)} MiB/s, receiver ${cpuPerGiB.toFixed(2)} CPU-s per GiB`);
}
