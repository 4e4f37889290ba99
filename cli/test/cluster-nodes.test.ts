import assert from 'node:assert/strict';
import { regionNodes, scaleOut } from '../src/cluster/region-nodes.js';
import { localTopology } from '../src/cluster/topology.js';
import { expectCleanFailure, georeg } from './support/run.js';

describe('georeg cluster --nodes-per-region: where each node of a region listens, and what it refuses', () => {
  const topology = localTopology(['eu', 'us'], 7000, (r) => r);

  it('puts one node on the region’s ports, and several on +5.. (HTTP) and +1, +8, +9 (replication) behind the front', () => {
    const one = regionNodes(topology, 'us', '/d/us', scaleOut({}));
    assert.deepEqual(one, [{ label: 'us', http: 7010, replication: 7011, data: '/d/us/registry' }]);
    const three = regionNodes(topology, 'us', '/d/us', scaleOut({ 'nodes-per-region': '3', storage: 'azure', meta: 'postgres' }));
    assert.deepEqual(three, [
      { label: 'us-1', http: 7015, replication: 7011, data: '/d/us/registry-1' },
      { label: 'us-2', http: 7016, replication: 7018, data: '/d/us/registry-2' },
      { label: 'us-3', http: 7017, replication: 7019, data: '/d/us/registry-3' },
    ]);
    const fs = regionNodes(topology, 'eu', '/d/eu', scaleOut({ 'nodes-per-region': '2', meta: 'postgres' }));
    assert.deepEqual(
      fs.map((n) => n.data),
      ['/d/eu/registry', '/d/eu/registry'],
      'with the fs driver the nodes of a region share one directory',
    );
  });

  it('refuses, before starting anything, several nodes without PostgreSQL, more than 3, --secure, and unknown kinds', async () => {
    const cases: [string[], RegExp][] = [
      [['--nodes-per-region', '2'], /--nodes-per-region above 1 needs --meta postgres/],
      [['--nodes-per-region', '4', '--meta', 'postgres'], /--nodes-per-region takes 1 to 3/],
      [['--nodes-per-region', '2', '--meta', 'postgres', '--secure'], /cannot be --secure: the front of a region speaks plain HTTP/],
      [['--storage', 'nfs'], /--storage takes fs, azure, s3/],
      [['--meta', 'sqlite'], /--meta takes level or postgres/],
    ];
    for (const [args, message] of cases) expectCleanFailure(await georeg(['cluster', ...args]), 2, message);
  });
});
