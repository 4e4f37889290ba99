/**
 * One compose project on the shared Docker host (compose-host.ts): deploy/compose's files, a
 * project name, the regions' and Prometheus's published ports free ones; `healthy` waits for every
 * container's healthcheck and, if one never passes, prints each container's state and checks and
 * the tail of every log.
 */
import { dockerCompose } from 'georeg/test-support';
import { until } from './cluster.js';
import type { Dockerd } from './dockerd.js';
import { freePort } from './process.js';

/** The published ports (.env's EU_PORT, US_PORT, AP_PORT, PROMETHEUS_PORT). */
export type ComposePorts = Record<'eu' | 'us' | 'ap' | 'prometheus', number>;

export class ComposeProject {
  readonly env: Record<string, string>;

  private constructor(
    private readonly dockerd: Dockerd,
    private readonly files: string[],
    readonly ports: ComposePorts,
    env: Record<string, string>,
  ) {
    this.env = { ...dockerd.env, ...env };
  }

  /** Project `name` of compose `files`, on free ports, with `env` added (e.g. image overrides). */
  static async create(dockerd: Dockerd, files: string[], name: string, env: Record<string, string> = {}): Promise<ComposeProject> {
    const ports: ComposePorts = { eu: await freePort(), us: await freePort(), ap: await freePort(), prometheus: await freePort() };
    return new ComposeProject(dockerd, files, ports, {
      COMPOSE_PROJECT_NAME: name,
      EU_PORT: String(ports.eu),
      US_PORT: String(ports.us),
      AP_PORT: String(ports.ap),
      PROMETHEUS_PORT: String(ports.prometheus),
      ...env,
    });
  }

  /** `docker-compose -f FILE ... ARGS` in deploy/compose. */
  compose(...args: string[]): Promise<{ stdout: string }> {
    return dockerCompose([...this.files.flatMap((f) => ['-f', f]), ...args], this.env);
  }

  /** Until `count` containers of the project run and every one answers its healthcheck. */
  async healthy(count: number, ms = 180_000): Promise<void> {
    await until(ms, `${count} containers to be healthy`, async () => {
      const ids = (await this.compose('ps', '-q')).stdout.split('\n').filter(Boolean);
      if (ids.length !== count) return false;
      const states = await this.dockerd.docker(['inspect', '--format', '{{.State.Health.Status}}', ...ids]);
      return states
        .split('\n')
        .filter(Boolean)
        .every((s) => s === 'healthy');
    }).catch(async (e: Error) => {
      console.error(await this.report());
      throw e;
    });
  }

  /** Per container its state and its last health checks' output; then the tail of every log. */
  async report(): Promise<string> {
    const ids = (await this.compose('ps', '-aq')).stdout.split('\n').filter(Boolean);
    const lines: string[] = [];
    for (const id of ids) {
      const format = '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}} {{json .State.Health.Log}}{{end}}';
      lines.push(await this.dockerd.docker(['inspect', '--format', format, id]).catch((e: Error) => e.message));
    }
    const logs = await this.compose('logs', '--no-color', '--tail=15').then(
      (r) => r.stdout,
      (e: Error) => e.message,
    );
    return [...lines, logs.replace(/^/gm, '        | ')].join('\n');
  }

  /** `down -v`: containers, networks and volumes go; a failure is printed, not thrown (teardown). */
  async down(): Promise<void> {
    await this.compose('down', '-v', '--timeout', '5').catch((e: Error) => console.error(`      compose down: ${e.message}`));
  }
}

/** The result of an instant PromQL query against the Prometheus published on `port`. */
export async function prometheusQuery<T>(port: number, query: string): Promise<T[]> {
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(query)}`);
  return ((await res.json()) as { data: { result: T[] } }).data.result;
}
