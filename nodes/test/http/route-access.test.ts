import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Requirement } from '../../src/auth/access.js';
import type { AuthService } from '../../src/auth/service.js';
import { Ctx } from '../../src/http/context.js';
import { Router, type Route } from '../../src/http/router.js';
import { registryRoutes } from '../../src/http/routes/index.js';
import { silentLogger } from '../../src/log.js';
import type { NodeMetrics } from '../../src/metrics.js';
import type { GcOptions } from '../../src/registry/gc.js';
import type { Registry } from '../../src/registry/registry.js';
import type { NodeStatus } from '../../src/status.js';

const KINDS = new Set<string>(['public', 'authenticated', 'admin', 'catalog', 'repository', 'signed-blob']);
const DIGEST = `sha256:${'0'.repeat(64)}`;
const STOP = new Error('authorization stops here');

/** Every route of a node with authentication on, its auth service recording what each request needs (and letting no handler run). */
function routesAsking(): { routes: Route[]; asked: Requirement[] } {
  const asked: Requirement[] = [];
  const auth = {
    identities: {},
    authorize(_ctx: Ctx, need: Requirement): Promise<void> {
      asked.push(need);
      return Promise.reject(STOP);
    },
  } as unknown as AuthService;
  // Route tables only hold on to these: no handler gets to use them.
  const routes = registryRoutes({} as Registry, {} as Omit<GcOptions, 'dryRun'>, {} as NodeStatus, {} as NodeMetrics, auth);
  return { routes, asked };
}

function request(method: string, path: string, params: string[]): Ctx {
  const req = { method, headers: {}, socket: {} } as IncomingMessage;
  return new Ctx(req, {} as ServerResponse, 'test', silentLogger, path, '', params);
}

describe('route access declarations', () => {
  it('every method of every route declares what it needs, and its handler runs only once the caller is authorized for it', async () => {
    const { routes, asked } = routesAsking();
    assert.ok(
      routes.some((r) => r.name === 'auth-users') && routes.some((r) => r.name === 'oauth'),
      'the routes of authentication are there',
    );
    for (const route of routes) {
      for (const [method, endpoint] of Object.entries(route.methods)) {
        const where = `${route.name} ${method} (${route.pattern.source})`;
        assert.ok(endpoint, where);
        const ctx = request(method, '/', ['team/app', DIGEST]);
        const need = endpoint.access(ctx);
        assert.ok(KINDS.has(need.kind), `${where}: ${need.kind}`);
        await assert.rejects(Promise.resolve(endpoint.handler(ctx)), STOP, where);
        assert.deepEqual(asked.pop(), need, where);
      }
    }
  });

  it("HEAD, where a route has no HEAD of its own, needs what the route's GET needs", async () => {
    const { routes, asked } = routesAsking();
    const router = new Router(routes);
    const cases: [string, Requirement][] = [
      ['/v2/team/app/manifests/latest', { kind: 'repository', name: 'team/app', action: 'pull' }],
      ['/v2/team/app/blobs/uploads/some-id', { kind: 'repository', name: 'team/app', action: 'push', signer: true }],
      ['/georeg/v1/trust/policy', { kind: 'authenticated' }],
      ['/georeg/v1/auth/users', { kind: 'admin' }],
    ];
    for (const [path, need] of cases) {
      const match = router.match('HEAD', path);
      assert.ok(match?.handler, path);
      await assert.rejects(Promise.resolve(match.handler(request('HEAD', path, match.params))), STOP, path);
      assert.deepEqual(asked.pop(), need, path);
    }
  });

  it('a method that declares no access does not compile', () => {
    // @ts-expect-error: `access` is required: a route is closed until its author decides who may call it.
    const undecided: Route = { name: 'undecided', pattern: /^\/undecided$/, methods: { GET: { handler: () => undefined } } };
    assert.equal(undecided.methods.GET?.access, undefined);
  });
});
