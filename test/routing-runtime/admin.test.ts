/**
 * The admin endpoints on a standalone Gateway: bearer-token auth, a separate admin
 * listener, `GET /admin/routes/explain` for each kind of match, operator marks on
 * pool members, and pool members taken down by repeated connect failures.
 * The admin error catalogue is checked against docs/operations.md.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it, test } from 'node:test';
import { AdminErrors } from '../../src/errors.js';
import type { Gateway } from '../../src/server/gateway.js';
import { connectClient } from '../helpers/gateway.js';
import { freePort } from '../helpers/upstream.js';
import { admin, ConfigFile, gatewayConfig, readyz, routedTo, startFromFile, startNamedUpstream, TOKEN, within, type NamedUpstream } from './fixtures.js';

interface Explained {
  clientId: string;
  version: string;
  matched: boolean;
  rule?: { kind: string; key: string; openclawGateway?: string; openclawGateways?: string[] };
  candidates: Array<{ kind: string; key: string }>;
  target?: string;
  template?: string;
  pool?: { members: Array<{ index: number; spec: string; target: string; down: boolean; downReason?: string }>; chosen: number; allDown: boolean };
  reason: string;
  answeredBy: string;
  converged: boolean;
}

async function explain(port: number, clientId: string): Promise<Explained> {
  const res = await admin(port, 'GET', `/admin/routes/explain?clientId=${encodeURIComponent(clientId)}`);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body as unknown as Explained;
}

describe('admin auth and listeners', () => {
  let up: NamedUpstream;
  const files: ConfigFile[] = [];
  const gateways: Gateway[] = [];
  const start = async (extra: Record<string, unknown>): Promise<Gateway> => {
    const file = new ConfigFile(gatewayConfig({ defaultRoute: { openclawGateway: up.url }, routing: { watchConfigFile: false }, ...extra }));
    files.push(file);
    const gw = await startFromFile(file);
    gateways.push(gw);
    return gw;
  };

  before(async () => {
    up = await startNamedUpstream('A');
  });
  after(async () => {
    for (const gw of gateways) await gw.close();
    for (const f of files) f.cleanup();
    await up?.close();
  });

  it('on the main port: 401 without a token or with a wrong one, 200 with it; 404/405/400 only after auth', async () => {
    const gw = await start({ admin: { token: TOKEN } });
    for (const token of [null, 'wrong-token-wrong-token', `${TOKEN}x`, TOKEN.slice(0, -1)]) {
      const res = await admin(gw.port, 'POST', '/admin/reload', token);
      assert.equal(res.status, 401);
      assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="stratix-admin"');
      assert.equal((res.body['error'] as { code: string }).code, 'STRATIX_ERR_ADMIN_UNAUTHORIZED');
    }
    // Unknown admin paths look the same as known ones to an anonymous caller.
    assert.equal((await admin(gw.port, 'GET', '/admin/nothing-here', null)).status, 401);

    assert.equal((await admin(gw.port, 'POST', '/admin/reload')).status, 200);
    const notFound = await admin(gw.port, 'GET', '/admin/nothing-here');
    assert.equal(notFound.status, 404);
    assert.equal(notFound.headers.get('x-stratix-error'), 'STRATIX_ERR_ADMIN_NOT_FOUND');
    const wrongMethod = await admin(gw.port, 'GET', '/admin/reload');
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get('allow'), 'POST');
    const noId = await admin(gw.port, 'GET', '/admin/routes/explain');
    assert.equal(noId.status, 400);
    assert.equal(noId.headers.get('x-stratix-error'), 'STRATIX_ERR_ADMIN_BAD_REQUEST');
    const badUrl = await admin(gw.port, 'POST', '/admin/upstreams/down?url=http://x/');
    assert.equal(badUrl.status, 400);
    // The operations endpoints need no token.
    assert.equal((await readyz(gw.port)).ready, true);
  });

  it('without admin.token the admin endpoints answer 403 STRATIX_ERR_ADMIN_DISABLED', async () => {
    const gw = await start({});
    for (const token of [null, TOKEN]) {
      const res = await admin(gw.port, 'POST', '/admin/reload', token);
      assert.equal(res.status, 403);
      assert.equal((res.body['error'] as { code: string }).code, 'STRATIX_ERR_ADMIN_DISABLED');
    }
  });

  it('with admin.listen: served there only; the main port answers 404 for /admin/*', async () => {
    const gw = await start({ admin: { token: TOKEN, listen: '127.0.0.1:0' } });
    const adminPort = gw.adminPort!;
    assert.ok(adminPort > 0 && adminPort !== gw.port);
    const onMain = await admin(gw.port, 'POST', '/admin/reload');
    assert.equal(onMain.status, 404);
    assert.equal(onMain.headers.get('x-stratix-error'), 'STRATIX_ERR_NOT_FOUND');
    assert.equal((await admin(adminPort, 'POST', '/admin/reload', null)).status, 401);
    const ok = await admin(adminPort, 'POST', '/admin/reload');
    assert.equal(ok.status, 200);
    assert.equal(ok.body['version'], (await readyz(gw.port)).routeTable.version);
    // Only /admin/* there.
    const metrics = await admin(adminPort, 'GET', '/metrics');
    assert.equal(metrics.status, 404);
    assert.equal(metrics.headers.get('x-stratix-error'), 'STRATIX_ERR_ADMIN_NOT_FOUND');
  });
});

describe('GET /admin/routes/explain and pool members', () => {
  let a: NamedUpstream;
  let b: NamedUpstream;
  let c: NamedUpstream;
  let file: ConfigFile;
  let gw: Gateway;
  let dead: string;
  const routes = () => [
    { clientId: 'vip-1', openclawGateway: a.url },
    { clientIdPrefix: 'team-', openclawGateway: b.url },
    { clientIdPrefix: 'tpl-', openclawGateway: `ws://127.0.0.1:${c.port}/t/{suffix}` },
    { clientIdPrefix: 'pool-', openclawGateways: [a.url, b.url, c.url] },
    { clientIdPrefix: 'flaky-', openclawGateways: [dead, a.url] },
  ];

  before(async () => {
    a = await startNamedUpstream('A');
    b = await startNamedUpstream('B');
    c = await startNamedUpstream('C');
    dead = `ws://127.0.0.1:${await freePort()}/dead`;
    file = new ConfigFile(gatewayConfig({ routes: routes(), admin: { token: TOKEN }, routing: { watchConfigFile: false, health: { failuresToMarkDown: 3, downCooldownMs: 600_000 } } }));
    gw = await startFromFile(file);
  });
  after(async () => {
    await gw?.close();
    for (const u of [a, b, c]) await u?.close();
    file?.cleanup();
  });

  it('exact, prefix, template: the rule, the target, the reason and the table version', async () => {
    const version = (await readyz(gw.port)).routeTable.version as string;
    const exact = await explain(gw.port, 'vip-1');
    assert.equal(exact.matched, true);
    assert.deepEqual(exact.rule, { kind: 'exact', key: 'vip-1', openclawGateway: a.url });
    assert.equal(exact.target, a.url);
    assert.equal(exact.version, version);
    assert.equal(exact.answeredBy, 'local');
    assert.equal(exact.converged, true);
    assert.match(exact.reason, /exact rule/);

    const prefix = await explain(gw.port, 'team-42');
    assert.deepEqual(prefix.rule, { kind: 'prefix', key: 'team-', openclawGateway: b.url });
    assert.equal(prefix.target, b.url);
    assert.match(prefix.reason, /"team-" is the longest matching prefix/);

    const tpl = await explain(gw.port, 'tpl-x7');
    assert.equal(tpl.template, `ws://127.0.0.1:${c.port}/t/{suffix}`);
    assert.equal(tpl.target, `ws://127.0.0.1:${c.port}/t/x7`);
    assert.equal(await routedTo(gw.port, 'tpl-x7'), 'C');
  });

  it('a miss, then the default route after a reload adds one', async () => {
    const miss = await explain(gw.port, 'nobody-1');
    assert.equal(miss.matched, false);
    assert.equal(miss.rule, undefined);
    assert.deepEqual(miss.candidates, []);
    assert.match(miss.reason, /no rule matches and there is no default route/);

    file.write(gatewayConfig({ routes: routes(), defaultRoute: { openclawGateway: c.url }, admin: { token: TOKEN }, routing: { watchConfigFile: false, health: { failuresToMarkDown: 3, downCooldownMs: 600_000 } } }));
    const reload = await admin(gw.port, 'POST', '/admin/reload');
    assert.equal(reload.status, 200);
    const hit = await explain(gw.port, 'nobody-1');
    assert.equal(hit.matched, true);
    assert.deepEqual(hit.rule, { kind: 'default', key: '', openclawGateway: c.url });
    assert.equal(hit.target, c.url);
    assert.equal(hit.version, reload.body['version']);
    assert.match(hit.reason, /the default route/);
  });

  it('a pool: the chosen member and why; an operator mark skips it, everywhere, until marked up', async () => {
    const before = await explain(gw.port, 'pool-7');
    assert.equal(before.pool!.members.length, 3);
    const chosen = before.pool!.members[0]!;
    assert.equal(before.pool!.chosen, chosen.index, 'the best ranked member is chosen');
    assert.equal(before.target, chosen.target);
    assert.match(before.reason, new RegExp(`member ${chosen.index} has the highest rendezvous score`));
    const name = (url: string) => url.slice(url.lastIndexOf('/') + 1);
    assert.equal(await routedTo(gw.port, 'pool-7'), name(chosen.target));

    const down = await admin(gw.port, 'POST', `/admin/upstreams/down?url=${encodeURIComponent(chosen.target)}`);
    assert.equal(down.status, 200);
    assert.deepEqual(down.body, { url: chosen.target, down: true, replicas: 1 });
    const after = await explain(gw.port, 'pool-7');
    const second = before.pool!.members[1]!;
    assert.equal(after.pool!.chosen, second.index);
    assert.equal(after.target, second.target);
    const marked = after.pool!.members.find((m) => m.index === chosen.index)!;
    assert.equal(marked.down, true);
    assert.equal(marked.downReason, 'operator');
    assert.match(after.reason, /1 better scored member\(s\) down, skipped/);
    assert.equal(await routedTo(gw.port, 'pool-7'), name(second.target));
    const listed = await admin(gw.port, 'GET', '/admin/upstreams');
    assert.deepEqual(listed.body['operatorDown'], [chosen.target]);

    assert.equal((await admin(gw.port, 'POST', `/admin/upstreams/up?url=${encodeURIComponent(chosen.target)}`)).status, 200);
    assert.equal((await explain(gw.port, 'pool-7')).pool!.chosen, chosen.index);
    assert.equal(await routedTo(gw.port, 'pool-7'), name(chosen.target));
  });

  it('repeated connect failures take a pool member down; clients then reach the next member', async () => {
    // A clientId whose best member is the dead one.
    let id = '';
    for (let i = 0; id === ''; i++) {
      const e = await explain(gw.port, `flaky-${i}`);
      if (e.target === dead) id = `flaky-${i}`;
    }
    for (let i = 0; i < 3; i++) {
      const client = connectClient(gw.port, id);
      const closed = await within(client.closed, 10_000, 'the failed upstream close');
      assert.equal(closed.code, 4521, 'upstream refused');
    }
    const e = await explain(gw.port, id);
    const deadMember = e.pool!.members.find((m) => m.target === dead)!;
    assert.equal(deadMember.down, true);
    assert.equal(deadMember.downReason, 'failures');
    assert.equal(e.target, a.url);
    assert.equal(await routedTo(gw.port, id), 'A');
  });
});

test('docs/operations.md lists exactly the admin errors, with their HTTP status', () => {
  const doc = readFileSync(new URL('../../../docs/operations.md', import.meta.url), 'utf8');
  const rows = doc
    .split('\n')
    .filter((l) => /^\| \d{3} \| `?STRATIX_ERR_/.test(l))
    .map((l) => l.split('|').slice(1, -1).map((c) => c.trim().replace(/^`|`$/g, '')));
  assert.deepEqual(
    rows.map(([status, code, meaning]) => ({ status: Number(status), code, meaning })),
    Object.values(AdminErrors).map((e) => ({ status: e.status, code: e.code, meaning: e.meaning })),
  );
});
