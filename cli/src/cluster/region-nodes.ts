/**
 * How many `georeg serve` nodes `georeg cluster` runs per region, over which storage and metadata,
 * and where each listens. One node per region is the default: on the region's registry and
 * replication ports, LevelDB and blobs under `<region>/registry`. Several share one PostgreSQL
 * database and one blob storage (shared-storage.ts) behind a `georeg front` on the region's
 * registry port; the other regions' replication peers name the first node.
 */
import { join } from 'node:path';
import { CliError } from '../command.js';
import { STORAGE_KINDS, type StorageKind } from './shared-storage.js';
import { DEFAULT_POSTGRES_URL } from './region-databases.js';
import { localNodePorts, MAX_LOCAL_NODES, type Topology } from './topology.js';

export interface ScaleOut {
  nodes: number;
  storage: StorageKind;
  meta: 'level' | 'postgres';
  /** The PostgreSQL server the regions' databases are created through. */
  postgres: string;
}

/** One node of a region. */
export interface RegionNode {
  /** Prefix of its stderr lines: the region's name, or `<region>-<i>` where there are several. */
  label: string;
  http: number;
  replication: number;
  data: string;
}

/** The options of `georeg cluster` about nodes per region, checked. */
export function scaleOut(values: {
  'nodes-per-region'?: string;
  storage?: string;
  meta?: string;
  postgres?: string;
  secure?: boolean;
  'separate-replicators'?: boolean;
}): ScaleOut {
  const nodes = Number(values['nodes-per-region'] ?? 1);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > MAX_LOCAL_NODES)
    throw new CliError(`--nodes-per-region takes 1 to ${MAX_LOCAL_NODES} (a region has ten ports)`);
  const storage = (values.storage ?? 'fs') as StorageKind;
  if (!STORAGE_KINDS.includes(storage)) throw new CliError(`--storage takes ${STORAGE_KINDS.join(', ')}`);
  const meta = values.meta ?? 'level';
  if (meta !== 'level' && meta !== 'postgres') throw new CliError('--meta takes level or postgres');
  if (nodes > 1) {
    if (meta !== 'postgres') throw new CliError('--nodes-per-region above 1 needs --meta postgres: LevelDB is one process’s');
    if (values.secure) throw new CliError('--nodes-per-region above 1 cannot be --secure: the front of a region speaks plain HTTP');
    if (values['separate-replicators']) throw new CliError('--nodes-per-region above 1 cannot have --separate-replicators');
  }
  return { nodes, storage, meta, postgres: values.postgres ?? DEFAULT_POSTGRES_URL };
}

/** The nodes of `region`, whose state is under `dir`. */
export function regionNodes(t: Topology, region: string, dir: string, s: ScaleOut): RegionNode[] {
  const ports = t.ports(region);
  if (s.nodes === 1) return [{ label: region, http: ports.registry, replication: ports.replication, data: join(dir, 'registry') }];
  return Array.from({ length: s.nodes }, (_, i) => ({
    label: `${region}-${i + 1}`,
    ...localNodePorts(t, region, i),
    // The fs driver's blobs are in the data directory: one for the region. Otherwise each its own (it holds nothing shared).
    data: join(dir, s.storage === 'fs' ? 'registry' : `registry-${i + 1}`),
  }));
}
