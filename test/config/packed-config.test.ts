/**
 * The primary's config loader (packed rules, one rule parsed at a time) against the
 * whole-file loader: the same settings, the same rules and version, and word for word
 * the same errors, for files written every way JSON allows (and with comments).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { loadConfigFileAsync } from '../../src/config/load.js';
import { loadPackedConfigFile } from '../../src/config/packed-config.js';
import { scanRouteArray } from '../../src/config/route-array-scanner.js';
import { buildRouteTable } from '../../src/routing/index.js';
import { ConfigError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'stratix-packed-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(text: string): string {
  const p = join(dir, `c${n++}.json`);
  writeFileSync(p, text);
  return p;
}

async function outcome(load: () => Promise<unknown>): Promise<{ ok: unknown } | { error: string }> {
  try {
    return { ok: await load() };
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError, not ${String(err)}`);
    return { error: err.message };
  }
}

/** Loads `text` both ways and asserts they agree; returns the packed result. */
async function same(text: string): Promise<void> {
  const p = file(text);
  const whole = await outcome(() => loadConfigFileAsync(p));
  const packed = await outcome(() => loadPackedConfigFile(p));
  if ('error' in whole) {
    assert.deepEqual(packed, whole);
    return;
  }
  assert.ok('ok' in packed, `packed failed: ${JSON.stringify(packed)}`);
  const config = whole.ok as Awaited<ReturnType<typeof loadConfigFileAsync>>;
  const { config: pc, rules } = packed.ok as Awaited<ReturnType<typeof loadPackedConfigFile>>;
  assert.deepEqual({ ...pc, routes: config.routes }, config);
  assert.deepEqual(pc.routes, []);
  assert.ok(Object.isFrozen(pc) && Object.isFrozen(pc.gateway));
  const table = buildRouteTable(config.routes, config.defaultRoute);
  assert.equal(rules.version, table.version);
  assert.equal(rules.size, table.size);
  assert.equal(rules.duplicates, table.duplicates);
}

const rule = fc.oneof(
  fc.record({ clientIdPrefix: fc.constantFrom('', 'a-', 'b.', 'client-1-'), openclawGateway: fc.constantFrom('ws://a/ws', 'ws://oc-{suffix}.t/ws', 'ws://\u00e9x.example/ws') }),
  fc.record({ clientId: fc.constantFrom('x', 'y-1'), openclawGateways: fc.constantFrom(['ws://p/ws'], ['ws://q/ws', 'ws://r/{clientId}']) }),
  fc.constant({ clientIdPrefix: 'bad-', openclawGateway: 'http://not-ws/' }),
  fc.constant({ clientIdPrefix: 'x', clientId: 'y', openclawGateway: 'ws://a/ws' }),
  fc.constant({ clientIdPrefix: 'q"\\]}[{,-', openclawGateway: 'ws://a/ws' }),
  // The hand check's edges (route-rule-check.ts): it accepts some, leaves the others to the schema.
  fc.record({ clientIdPrefix: fc.constantFrom('p-', 'q', 'a'.repeat(129)), openclawGateway: fc.constantFrom('ws://1.2.3.999/', 'ws://a:70000/', 'ws://xn--a.b/', 'ws://oc-1.tenants.internal:18789/ws', 'ws://a/%zz', 'ws://A-1.b2/x~') }),
  fc.record({ clientId: fc.constantFrom('e', '', 'a'.repeat(129)), openclawGateway: fc.constantFrom('ws://oc-{suffix}.t/', 'ws://a/', 'ws://{clientId}.t/') }),
);
const settings = fc.record(
  {
    gateway: fc.record({ listen: fc.constantFrom(':8080', '127.0.0.1:9'), workers: fc.constantFrom('auto', 2, 0) }, { requiredKeys: [] }),
    defaultRoute: fc.constantFrom({ openclawGateway: 'ws://d/ws' }, { openclawGateways: ['ws://d1/ws', 'ws://d2/ws'] }),
    log: fc.record({ level: fc.constantFrom('warn', 'loud') }),
    note: fc.constant('"routes": [ not this one ]'),
  },
  { requiredKeys: [] },
);

test('any config, written any way JSON allows, loads packed exactly as it loads whole', async () => {
  await fc.assert(
    fc.asyncProperty(settings, fc.array(rule, { maxLength: 12 }), fc.constantFrom(0, 2, '\t'), fc.boolean(), fc.nat(3), async (s, routes, indent, comments, at) => {
      const keys = Object.entries({ ...s, routes });
      const [k, v] = keys.splice(Math.min(at, keys.length - 1), 1)[0]!;
      keys.push([k, v]); // `routes` anywhere among the settings
      let text = JSON.stringify(Object.fromEntries(keys), null, indent);
      if (comments) text = `// routes for the test\n${text.replace('"routes": [', '"routes": [ /* rules */').replace(/},\n/g, '}, // a rule\n')}`;
      assert.ok(scanRouteArray(Buffer.from(text)) !== undefined, 'the packed path, not the fallback, is what is compared');
      await same(text);
    }),
    { numRuns: 150 },
  );
});

test('files the scanner is not sure of load the whole-file way, with its errors', async () => {
  const ok = '{"clientIdPrefix":"a-","openclawGateway":"ws://a/ws"}';
  for (const text of [
    `{"routes":[${ok},]}`,
    `{"routes":[,${ok}]}`,
    `{"routes":[${ok},,${ok}]}`,
    `{"routes":{"a":1}}`,
    `{"routes":"none"}`,
    `{"routes":[${ok}],"routes":[]}`,
    `{"routes":[${ok}]}}`,
    `{"routes":[${ok}]`,
    `[${ok}]`,
    `{"routes":[{"clientIdPrefix":"a-" "openclawGateway":"ws://a/ws"}]}`,
    `{"gateway":{"listen":":1"},"routes":[${ok}], "log": {"level": nope}}`,
    `{"routes":[${ok}]} trailing`,
    `{"routes":[${ok}], /* open comment }`,
    `{"routes":[${ok}]}`,
    `{"routeSource":{"type":"etcd","etcd":{"endpoints":["http://127.0.0.1:2379"]}},"routes":[${ok}]}`,
  ]) {
    await same(text);
  }
});

test('the scanner finds each rule of the routes array, and nothing of a routes key deeper down', () => {
  const text = '{"a":{"routes":[1]}, "routes" : [ {"x":"]"} , [2] ,"s\\"" ] }';
  const layout = scanRouteArray(Buffer.from(text))!;
  const b = Buffer.from(text);
  const elements = Array.from({ length: layout.count }, (_, i) => b.toString('utf8', layout.starts[i], layout.ends[i]).trim());
  assert.deepEqual(elements, ['{"x":"]"}', '[2]', '"s\\""']);
  assert.equal(text[layout.open], '[');
  assert.equal(text[layout.close], ']');
});
