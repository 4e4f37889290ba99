/**
 * Prometheus for `georeg cluster`: the shipped deploy/prometheus/prometheus.yml and alerts.yml
 * copied beside a file-SD targets file naming the cluster's regions, so `prometheus
 * --config.file=DATA/prometheus/prometheus.yml` scrapes them with no editing. With --secure the
 * scrape is over HTTPS trusting the cluster's CA (/metrics needs no credentials).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** deploy/prometheus of the repository (this file is cli/dist/src/cluster/prometheus-files.js). */
const SHIPPED = fileURLToPath(new URL('../../../../deploy/prometheus/', import.meta.url));

/** Writes DATA/prometheus; returns the config file to give Prometheus. */
export async function writePrometheusFiles(dir: string, regions: { name: string; registry: string }[], caFile?: string): Promise<string> {
  let config = await readFile(join(SHIPPED, 'prometheus.yml'), 'utf8');
  if (caFile) {
    const plain = '    scheme: http\n';
    if (!config.includes(plain)) throw new Error(`${SHIPPED}prometheus.yml has no "scheme: http" line to make HTTPS`);
    config = config.replace(plain, `    scheme: https\n    tls_config:\n      ca_file: ${JSON.stringify(caFile)}\n`);
  }
  await mkdir(join(dir, 'targets'), { recursive: true });
  await writeFile(join(dir, 'prometheus.yml'), config);
  await writeFile(join(dir, 'alerts.yml'), await readFile(join(SHIPPED, 'alerts.yml')));
  const targets = regions.map((r) => ({ targets: [new URL(r.registry).host], labels: { region: r.name } }));
  await writeFile(join(dir, 'targets', 'georeg.json'), JSON.stringify(targets, null, 2) + '\n');
  return join(dir, 'prometheus.yml');
}
