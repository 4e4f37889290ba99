import { readFileSync } from 'node:fs';
import { ChannelCredentials, ServerCredentials, credentials } from '@grpc/grpc-js';
import { ConfigError, type Config } from 'georeg/nodes';

export interface ReplicationCredentials {
  server: ServerCredentials;
  client: ChannelCredentials;
  /** Whether mutual TLS is on. */
  mutual: boolean;
}

function read(what: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new ConfigError(`replication.${what}: cannot read ${file}: ${(e as Error).message}`);
  }
}

/**
 * The gRPC credentials between regions: plain text when no TLS file is set,
 * else mutual TLS: the service asks every peer for a certificate issued by
 * `tlsCa` and refuses those without one; the client checks the peer's
 * certificate against the same CA and presents its own.
 */
export function replicationCredentials(config: {
  replication: Pick<Config['replication'], 'tlsCa' | 'tlsCert' | 'tlsKey'>;
}): ReplicationCredentials {
  const { tlsCa, tlsCert, tlsKey } = config.replication;
  const set = [tlsCa, tlsCert, tlsKey].filter((f) => f !== '').length;
  if (set === 0) return { server: ServerCredentials.createInsecure(), client: credentials.createInsecure(), mutual: false };
  if (set !== 3)
    throw new ConfigError('replication.tlsCa, replication.tlsCert and replication.tlsKey go together (mutual TLS between regions)');
  const [ca, cert, key] = [read('tlsCa', tlsCa), read('tlsCert', tlsCert), read('tlsKey', tlsKey)];
  try {
    return {
      server: ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], true),
      client: credentials.createSsl(ca, key, cert),
      mutual: true,
    };
  } catch (e) {
    throw new ConfigError(`replication TLS: ${(e as Error).message}`);
  }
}
