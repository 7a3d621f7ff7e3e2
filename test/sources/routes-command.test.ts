/**
 * `stratix-gateway routes import | export | explain` against the REAL etcd and against files.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { runRoutesCommand } from '../../src/cli/routes-command.js';
import { EtcdServer } from '../helpers/etcd-server.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function routes(...args: string[]): Promise<Run> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await runRoutesCommand(args, { stdout, stderr });
  return { code, stdout: out, stderr: err };
}

const RULES = [
  { clientIdPrefix: 'client-', openclawGateway: 'ws://127.0.0.1:9001/' },
  { clientIdPrefix: 'client-1', openclawGateway: 'ws://127.0.0.1:9002/' },
  { clientId: 'client-17', openclawGateway: 'ws://127.0.0.1:9003/' },
];
const DEFAULT = { openclawGateway: 'ws://127.0.0.1:9000/' };

/** Rules as sorted JSON strings, to compare sets regardless of order. */
const canon = (rules: readonly object[]) => rules.map((r) => JSON.stringify(r)).sort();

describe('routes command with a real etcd', () => {
  let etcd: EtcdServer;
  let tmp: string;
  const etcdArgs = (prefix: string) => ['--etcd', etcd.endpoint, '--prefix', prefix];

  before(async () => {
    etcd = await EtcdServer.start();
    tmp = await mkdtemp(path.join(os.tmpdir(), 'stratix-routes-cmd-'));
  });
  after(async () => {
    await etcd?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  test('import a config file, export it back, re-import changes nothing', async () => {
    const config = path.join(tmp, 'route.json');
    await writeFile(config, JSON.stringify({ gateway: { listen: ':8080' }, routes: RULES, defaultRoute: DEFAULT }));

    const imp = await routes('import', config, ...etcdArgs('/rt1/'));
    assert.equal(imp.code, 0, imp.stderr);
    assert.match(imp.stdout, /^imported 4 routes into etcd .* prefix \/rt1\/: 4 added, 0 changed, 0 unchanged, 0 deleted \(revision \d+\)\n$/);

    const exp = await routes('export', ...etcdArgs('/rt1/'));
    assert.equal(exp.code, 0, exp.stderr);
    const doc = JSON.parse(exp.stdout) as { routes: object[]; defaultRoute: object };
    assert.deepEqual(canon(doc.routes), canon(RULES));
    assert.deepEqual(doc.defaultRoute, DEFAULT);

    const again = await routes('import', config, ...etcdArgs('/rt1/'));
    assert.match(again.stdout, /0 added, 0 changed, 4 unchanged, 0 deleted\n$/);
  });

  test('round trip: export (json and jsonl) → import elsewhere → the same rules', async () => {
    await routes('import', await fileWith('rt2.json', { routes: RULES, defaultRoute: DEFAULT }), ...etcdArgs('/rt2/'));
    for (const format of ['json', 'jsonl'] as const) {
      const exp = await routes('export', ...etcdArgs('/rt2/'), '--format', format);
      const file = await fileWith(`export.${format}`, exp.stdout);
      const imp = await routes('import', file, ...etcdArgs(`/rt2-${format}/`));
      assert.equal(imp.code, 0, imp.stderr);
      const back = await routes('export', ...etcdArgs(`/rt2-${format}/`));
      assert.equal(back.stdout, (await routes('export', ...etcdArgs('/rt2/'))).stdout, format);
    }
    // Into a file and out of it again.
    const out = path.join(tmp, 'written.json');
    const toFile = await routes('import', await fileWith('rt2b.json', { routes: RULES, defaultRoute: DEFAULT }), '--file', out);
    assert.equal(toFile.code, 0, toFile.stderr);
    const fromFile = JSON.parse((await routes('export', '--file', out)).stdout) as { routes: object[] };
    assert.deepEqual(canon(fromFile.routes), canon(RULES));
  });

  test('--prune deletes what the file no longer has; a changed upstream is counted as changed', async () => {
    await routes('import', await fileWith('rt3.json', { routes: RULES }), ...etcdArgs('/rt3/'));
    const jsonl = [
      JSON.stringify({ clientIdPrefix: 'client-', openclawGateway: 'ws://127.0.0.1:9999/' }),
      JSON.stringify({ clientId: 'client-17', openclawGateway: 'ws://127.0.0.1:9003/' }),
      JSON.stringify({ defaultRoute: DEFAULT }),
    ].join('\n');
    const imp = await routes('import', await fileWith('rt3.jsonl', jsonl), ...etcdArgs('/rt3/'), '--prune');
    assert.equal(imp.code, 0, imp.stderr);
    assert.match(imp.stdout, /1 added, 1 changed, 1 unchanged, 1 deleted/);
    const doc = JSON.parse((await routes('export', ...etcdArgs('/rt3/'))).stdout) as { routes: object[]; defaultRoute: object };
    assert.equal(doc.routes.length, 2);
    assert.deepEqual(doc.defaultRoute, DEFAULT);
  });

  test('an invalid file writes nothing and names every bad rule', async () => {
    const bad = { routes: [RULES[0], { clientIdPrefix: 'x', openclawGateway: 'http://nope/' }, { openclawGateway: 'ws://a/' }] };
    const imp = await routes('import', await fileWith('bad.json', bad), ...etcdArgs('/rt4/'));
    assert.equal(imp.code, 1);
    assert.match(imp.stderr, /STRATIX_ERR_ROUTE_IMPORT_INVALID/);
    assert.match(imp.stderr, /routes\[1\]\.openclawGateway: /);
    assert.match(imp.stderr, /routes\[2\]: a route needs exactly one of "clientIdPrefix" or "clientId"/);
    const exp = await routes('export', ...etcdArgs('/rt4/'));
    assert.deepEqual(JSON.parse(exp.stdout), { routes: [] });
  });

  test('explain resolves with the route table, from etcd and from a file', async () => {
    await routes('import', await fileWith('rt5.json', { routes: RULES, defaultRoute: DEFAULT }), ...etcdArgs('/rt5/'));
    const cases: Array<[string, string, string, string]> = [
      ['client-17', 'exact', 'exact/client-17', 'ws://127.0.0.1:9003/'],
      ['client-123', 'prefix', 'prefix/client-1', 'ws://127.0.0.1:9002/'],
      ['client-9', 'prefix', 'prefix/client-', 'ws://127.0.0.1:9001/'],
      ['other', 'default', 'default', 'ws://127.0.0.1:9000/'],
    ];
    for (const [id, kind, key, target] of cases) {
      const r = await routes('explain', id, ...etcdArgs('/rt5/'));
      assert.equal(r.code, 0, r.stderr);
      const e = JSON.parse(r.stdout) as { matched: boolean; target: string; rule: { kind: string }; source: { key: string } };
      assert.equal(e.matched, true);
      assert.equal(e.rule.kind, kind, id);
      assert.equal(e.target, target, id);
      assert.equal(e.source.key, `/rt5/${key}`);
    }
    const file = await fileWith('rt5-file.json', { routes: RULES });
    const fromFile = await routes('explain', 'client-123', '--config', file);
    assert.equal((JSON.parse(fromFile.stdout) as { target: string }).target, 'ws://127.0.0.1:9002/');
    const miss = await routes('explain', 'nobody', '--config', file);
    assert.equal(miss.code, 1, 'no match: exit 1');
    assert.equal((JSON.parse(miss.stdout) as { matched: boolean }).matched, false);
  });

  test('usage errors exit 2; an unreachable etcd exits 1 with STRATIX_ERR_ETCD', async () => {
    for (const args of [[], ['export'], ['frob', '--file', 'x'], ['explain', '--file', 'x'], ['explain', 'bad id!', '--file', 'x'], ['export', '--file', 'a', '--etcd', 'b']]) {
      const r = await routes(...args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, /STRATIX_ERR_USAGE/);
    }
    const r = await routes('export', '--etcd', 'http://127.0.0.1:1');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /STRATIX_ERR_ETCD/);
    assert.match(r.stderr, /127\.0\.0\.1:1/);
  });

  async function fileWith(name: string, content: unknown): Promise<string> {
    const p = path.join(tmp, name);
    await writeFile(p, typeof content === 'string' ? content : JSON.stringify(content));
    return p;
  }

  test('export reads what import wrote, key for key', async () => {
    const many = Array.from({ length: 3000 }, (_, i) => ({ clientId: `c-${i}`, openclawGateway: `ws://127.0.0.1:9/${i}` }));
    const imp = await routes('import', await fileWith('many.json', many), ...etcdArgs('/rt6/'));
    assert.match(imp.stdout, /3000 added/);
    const out = await routes('export', ...etcdArgs('/rt6/'), '--format', 'jsonl');
    assert.deepEqual(out.stdout.trimEnd().split('\n').sort(), canon(many));
  });
});
