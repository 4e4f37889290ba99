// The container's HEALTHCHECK: GET /georeg/v1/health on the node's own port (GEOREG_LISTEN), over
// HTTPS when GEOREG_TLS_CERT is set. It asks the loopback address, so the certificate's name is
// not checked (the node's certificate names its public hosts). Exit 0: healthy.
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';

const port = (process.env.GEOREG_LISTEN ?? '0.0.0.0:5000').split(':').pop();
const get = process.env.GEOREG_TLS_CERT ? httpsGet : httpGet;
const req = get({ host: '127.0.0.1', port, path: '/georeg/v1/health', rejectUnauthorized: false, timeout: 4000 }, (res) => {
  res.resume();
  process.exit(res.statusCode === 200 ? 0 : 1);
});
req.on('timeout', () => req.destroy(new Error('no answer within 4 s')));
req.on('error', (e) => {
  process.stderr.write(`health check: ${e.message}\n`);
  process.exit(1);
});
