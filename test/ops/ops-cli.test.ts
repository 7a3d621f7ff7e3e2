/**
 * The operator commands of the real CLI: `default-config` (complete, commented, loads to
 * exactly the defaults), and `status`, `sessions list|show|close` against a running
 * two-worker instance through its admin listener, with their failures (exit status and
 * the instance's error code).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it, test } from 'node:test';
import { DEFAULT_CONFIG_TEXT } from '../../src/config/default-config.js';
import { loadConfigFile, parseConfig } from '../../src/config/load.js';
import { configSchema } from '../../src/config/schema.js';
import { adminUrlOf, resolveAdminTarget } from '../../src/ops/admin-client.js';
import { runCli, startCli, writeTempConfig, type RunningCli } from '../helpers/cli.js';
import { connectClient, type TestClient } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { TOKEN } from '../routing-runtime/fixtures.js';

/** Every setting's dotted path in the schema (objects walked through defaults, optionals and unions). */
function settingPaths(schema: unknown, prefix = ''): string[] {
  const def = (schema as { _zod: { def: Record<string, any> } })._zod.def;
  switch (def['type']) {
    case 'default':
    case 'prefault':
    case 'optional':
    case 'nullable':
    case 'pipe':
      return settingPaths(def['innerType'] ?? def['in'], prefix);
    case 'object': {
      const out: string[] = [];
      for (const [key, value] of Object.entries(def['shape'] as Record<string, unknown>)) {
        const path = prefix === '' ? key : `${prefix}.${key}`;
        const inner = settingPaths(value, path);
        out.push(...(inner.length === 0 ? [path] : inner));
      }
      return out;
    }
    case 'union':
      return [...new Set((def['options'] as unknown[]).flatMap((o) => settingPaths(o, prefix)))];
    default:
      return [];
  }
}

test('default-config: loads to exactly the defaults, and names every setting of the schema', async () => {
  const r = await runCli(['default-config']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, DEFAULT_CONFIG_TEXT);
  const tmp = writeTempConfig({});
  try {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(tmp.path, r.stdout);
    assert.deepEqual(loadConfigFile(tmp.path), parseConfig({}));
    const check = await runCli(['check-config', tmp.path]);
    assert.equal(check.code, 0, check.stderr);
  } finally {
    tmp.cleanup();
  }
  const paths = settingPaths(configSchema);
  assert.ok(paths.length > 40, `walked the schema: ${paths.length}`);
  for (const path of paths) {
    const leaf = path.split('.').at(-1)!;
    assert.ok(DEFAULT_CONFIG_TEXT.includes(`"${leaf}"`), `default-config names ${path}`);
  }
  assert.equal((await runCli(['default-config', 'extra'])).code, 2);
});

test('a config with comments loads; a broken one names the position', async () => {
  const tmp = writeTempConfig({});
  try {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(tmp.path, '// c\n{ /* x */ "gateway": { "listen": ":9" } // y\n}\n');
    assert.equal(loadConfigFile(tmp.path).gateway.listen, ':9');
    writeFileSync(tmp.path, '// c\n{ "gateway": { "listen": ":9", } }\n');
    const r = await runCli(['check-config', tmp.path]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not valid JSON \(comments are allowed\):/);
  } finally {
    tmp.cleanup();
  }
});

test('the admin address comes from the config: admin.listen, else gateway.listen on loopback', () => {
  assert.equal(adminUrlOf(parseConfig({ admin: { token: TOKEN, listen: '127.0.0.1:9091' } })), 'http://127.0.0.1:9091');
  assert.equal(adminUrlOf(parseConfig({ gateway: { listen: ':8080' } })), 'http://127.0.0.1:8080');
  assert.equal(adminUrlOf(parseConfig({ gateway: { listen: '0.0.0.0:8080' } })), 'http://127.0.0.1:8080');
  assert.equal(adminUrlOf(parseConfig({ gateway: { listen: '[::1]:8080' } })), 'http://[::1]:8080');
  const config = parseConfig({ admin: { token: TOKEN } });
  assert.deepEqual(resolveAdminTarget({}, {}, config), { url: 'http://127.0.0.1:8080', token: TOKEN });
  assert.deepEqual(resolveAdminTarget({}, { STRATIX_ADMIN_URL: 'http://h:1/', STRATIX_ADMIN_TOKEN: 'env-token' }, config), { url: 'http://h:1', token: 'env-token' });
  assert.deepEqual(resolveAdminTarget({ url: 'http://f:2', token: 'flag' }, { STRATIX_ADMIN_TOKEN: 'env' }, config), { url: 'http://f:2', token: 'flag' });
  assert.match((resolveAdminTarget({ url: 'ftp://x' }, {}, undefined) as Error).message, /not an http/);
  assert.match((resolveAdminTarget({}, {}, undefined) as Error).message, /no admin URL/);
});

describe('status and sessions against a running instance', () => {
  let up: TestUpstream;
  let cli: RunningCli;
  let adminUrl: string;
  const clients: TestClient[] = [];
  const env = (): NodeJS.ProcessEnv => ({ ...process.env, STRATIX_ADMIN_URL: adminUrl, STRATIX_ADMIN_TOKEN: TOKEN, STRATIX_CONFIG: '/nonexistent/route.json' });

  before(async () => {
    up = await startUpstream();
    cli = await startCli({
      gateway: { listen: '127.0.0.1:0', workers: 2 },
      defaultRoute: { openclawGateway: up.url },
      admin: { token: TOKEN, listen: '127.0.0.1:0' },
    });
    const adminLine = cli.logs.find((l) => l['msg'] === 'admin listening')!;
    adminUrl = `http://127.0.0.1:${adminLine['port'] as number}`;
    for (const id of ['cli-a', 'cli-b', 'cli-c', 'other-1']) {
      const c = connectClient(cli.port, id);
      await once(c.ws, 'open');
      clients.push(c);
    }
  });
  after(async () => {
    for (const c of clients) c.ws.terminate();
    await cli?.stop();
    await up?.close();
  });

  it('status: ready, route table, every worker; exit 0', async () => {
    const r = await runCli(['status'], env());
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ready: yes$/m);
    assert.match(r.stdout, /^route table: version [0-9a-f]{16}, 0 rules, converged$/m);
    assert.match(r.stdout, /^sessions: 4 open/m);
    for (const pid of cli.workerPids) assert.match(r.stdout, new RegExp(`^\\d +${pid} +up +\\d+ `, 'm'));
    assert.match(r.stdout, new RegExp(`^primary +${cli.proc.pid} +up`, 'm'));
    const json = await runCli(['status', '--json'], env());
    const parsed = JSON.parse(json.stdout) as { status: { ready: boolean }; workers: { workers: unknown[] } };
    assert.equal(parsed.status.ready, true);
    assert.equal(parsed.workers.workers.length, 2);
  });

  it('sessions list, with filters and pages; show', async () => {
    const r = await runCli(['sessions', 'list', '--prefix', 'cli-'], env());
    assert.equal(r.code, 0, r.stderr);
    for (const id of ['cli-a', 'cli-b', 'cli-c']) assert.match(r.stdout, new RegExp(`\\b${id}\\b`));
    assert.doesNotMatch(r.stdout, /other-1/);
    assert.match(r.stdout, /^3 shown of 3$/m);
    const paged = await runCli(['sessions', 'list', '--limit', '1', '--all', '--json'], env());
    const all = JSON.parse(paged.stdout) as { sessions: Array<{ id: string; clientId: string }>; nextCursor: null };
    assert.equal(all.sessions.length, 4);
    assert.equal(all.nextCursor, null);
    const first = await runCli(['sessions', 'list', '--limit', '1'], env());
    assert.match(first.stdout, /^more: --cursor \d+-1-\d+$/m);
    const target = all.sessions.find((s) => s.clientId === 'cli-b')!;
    const show = await runCli(['sessions', 'show', target.id], env());
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^clientId +cli-b$/m);
    assert.match(show.stdout, new RegExp(`^upstream +${up.url}$`, 'm'));
  });

  it('sessions close ID --code, and close --prefix --rate; each client gets the code', async () => {
    const all = JSON.parse((await runCli(['sessions', 'list', '--json'], env())).stdout) as { sessions: Array<{ id: string; clientId: string }> };
    const b = all.sessions.find((s) => s.clientId === 'cli-b')!;
    const r = await runCli(['sessions', 'close', b.id, '--code', '4101'], env());
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `closed ${b.id} (cli-b) with 4101\n`);
    assert.equal((await clients[1]!.closed).code, 4101);
    const p = await runCli(['sessions', 'close', '--prefix', 'cli-', '--rate', '100'], env());
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /^closing 2 sessions with clientId prefix "cli-" with 1012, 100\/s/);
    assert.equal((await clients[0]!.closed).code, 1012);
    assert.equal((await clients[2]!.closed).code, 1012);
    const left = JSON.parse((await runCli(['sessions', 'list', '--json'], env())).stdout) as { total: number };
    assert.equal(left.total, 1);
  });

  it('failures: exit 1 with the instance code; a bad command line exits 2', async () => {
    const gone = await runCli(['sessions', 'show', '0-1-999999'], env());
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /\(STRATIX_ERR_SESSION_NOT_FOUND\)$/m);
    const noToken = await runCli(['status'], { ...env(), STRATIX_ADMIN_TOKEN: 'wrong-token-wrong-token' });
    assert.equal(noToken.code, 1);
    assert.match(noToken.stderr, /\(STRATIX_ERR_ADMIN_UNAUTHORIZED\)$/m);
    const unreachable = await runCli(['status', '--url', 'http://127.0.0.1:1'], env());
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /cannot reach the admin API at http:\/\/127\.0\.0\.1:1 .*\(STRATIX_ERR_ADMIN_UNREACHABLE\)/);
    const badState = await runCli(['sessions', 'list', '--state', 'asleep'], env());
    assert.equal(badState.code, 1);
    assert.match(badState.stderr, /state: "asleep"/);
    for (const args of [['sessions'], ['sessions', 'frobnicate'], ['sessions', 'show'], ['sessions', 'close'], ['sessions', 'list', '--bogus'], ['status', 'extra']]) {
      assert.equal((await runCli(args, env())).code, 2, args.join(' '));
    }
  });
});

test('routes import into a config with comments keeps the comments and adds the rules', async () => {
  const { writeFileSync, readFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const tmp = writeTempConfig({});
  try {
    writeFileSync(tmp.path, DEFAULT_CONFIG_TEXT);
    const rules = join(tmp.dir, 'rules.json');
    writeFileSync(rules, JSON.stringify({ routes: [{ clientIdPrefix: 'acme-', openclawGateway: 'ws://oc-1.internal:18789/ws' }], defaultRoute: { openclawGateway: 'ws://oc-0.internal:18789/ws' } }));
    const r = await runCli(['routes', 'import', rules, '--config', tmp.path]);
    assert.equal(r.code, 0, r.stderr);
    const text = readFileSync(tmp.path, 'utf8');
    assert.ok(text.includes('// Stratix Gateway configuration: every setting, at its default.'), 'comments kept');
    assert.ok(text.includes('// Where clients connect'), 'comments kept');
    const config = loadConfigFile(tmp.path);
    assert.deepEqual(config.routes, [{ clientIdPrefix: 'acme-', openclawGateway: 'ws://oc-1.internal:18789/ws' }]);
    assert.deepEqual(config.defaultRoute, { openclawGateway: 'ws://oc-0.internal:18789/ws' });
    assert.equal(config.gateway.listen, ':8080');
  } finally {
    tmp.cleanup();
  }
});
