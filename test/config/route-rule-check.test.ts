/**
 * The hand check of route rules (route-rule-check.ts) against routeRuleSchema: whatever
 * it accepts, the schema accepts and returns the same; whatever the byte reader reads,
 * JSON.parse reads the same. Everything else is left to the schema and JSON.parse,
 * which name the errors, so the errors cannot differ.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isPlainUrl, plainRuleAt, quickRule } from '../../src/config/route-rule-check.js';
import { routeRuleSchema } from '../../src/config/route-schema.js';
import { compileTarget } from '../../src/routing/target-template.js';

const label = fc.oneof(
  fc.string({ unit: fc.constantFrom('a', 'Z', '0', '9', '-', '_', 'é'), minLength: 0, maxLength: 4 }),
  fc.constantFrom('xn--a', 'XN--abc', 'xn--', '0x1f', '0X', '255', '999', '1e3', 'localhost'),
);
const host = fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join('.'));
const port = fc.oneof(fc.constant(''), fc.nat(99999).map((n) => `:${n}`), fc.constantFrom(':', ':00080', ':65535', ':65536', ':-1'));
const path = fc.oneof(fc.constant(''), fc.string({ unit: fc.constantFrom('/', 'a', '.', '~', '_', '-', '?', '#', '%', ' ', '{', '}', '\\'), maxLength: 6 }).map((p) => '/' + p));
const scheme = fc.constantFrom('ws://', 'wss://', 'WS://', 'http://', 'ws:/', 'ws:///');
/** Close to plain: the hand check's own alphabet, with its edges (numeric last labels, xn--, big ports). */
const plainish = fc
  .tuple(
    fc.constantFrom('ws://', 'wss://'),
    fc.array(fc.oneof(fc.string({ unit: fc.constantFrom('a', 'Z', '0', '-'), minLength: 1, maxLength: 3 }), fc.constantFrom('xn--a', '12', '0x1')), { minLength: 1, maxLength: 3 }),
    fc.oneof(fc.constant(''), fc.nat(70000).map((n) => `:${n}`)),
    fc.oneof(fc.constant(''), fc.string({ unit: fc.constantFrom('/', 'a', '.', '~', '_', '-'), maxLength: 4 }).map((p) => '/' + p)),
  )
  .map(([sc, labels, p, path]) => sc + labels.join('.') + p + path);
const urlish = fc.oneof(
  plainish,fc.tuple(scheme, host, port, path).map((parts) => parts.join('')), fc.constant('ws://' + 'a'.repeat(2100)));

function compiles(s: string): boolean {
  try {
    compileTarget(s);
    return true;
  } catch {
    return false;
  }
}

test('a URL the hand check calls plain is one compileTarget accepts; the seed’s URLs are plain', () => {
  fc.assert(
    fc.property(urlish, (s) => {
      if (isPlainUrl(s)) assert.ok(compiles(s), s);
    }),
    { numRuns: 20_000 },
  );
  for (const s of ['ws://oc-1.tenants.internal:18789/ws', 'wss://a/', 'ws://a-b.c0:1', 'ws://x'] as const) assert.equal(isPlainUrl(s), true, s);
  for (const s of ['ws://1.2.3.4/', 'ws://a.999/', 'ws://xn--a.b/', 'ws://a:65536/', 'ws://a/#x', 'ws://a/%41'] as const) assert.equal(isPlainUrl(s), false, s);
});

const key = fc.oneof(fc.string({ unit: fc.constantFrom('a', '-', '.', ':', '@', '1', ' ', '/'), maxLength: 6 }), fc.constantFrom('', 'a'.repeat(128), 'a'.repeat(129)), fc.integer());
const target = fc.oneof(urlish, fc.constantFrom('ws://oc-{clientId}.t/ws', 'ws://oc-{suffix}.t/ws', 'ws://{bad}/', 'ws://a/{clientId'), fc.integer());
const candidate = fc.record(
  {
    clientId: key,
    clientIdPrefix: key,
    openclawGateway: target,
    openclawGateways: fc.constantFrom(['ws://a/'], [], 'ws://a/'),
    other: fc.string(),
  },
  { requiredKeys: [] },
);

/** Rule-shaped: one key field and one target, the values anything. */
const shaped = fc.tuple(fc.constantFrom('clientId', 'clientIdPrefix'), key, target).map(([k, v, t]) => ({ [k]: v, openclawGateway: t }));

test('a rule the hand check is sure of is valid, and the schema returns the same rule', () => {
  fc.assert(
    fc.property(fc.oneof(candidate, shaped, fc.constantFrom(null, [], 'x', 1, Object.create(null) as object)), (value) => {
      const sure = quickRule(value);
      if (sure === undefined) return;
      const r = routeRuleSchema.safeParse(value);
      assert.ok(r.success, JSON.stringify(value));
      assert.deepEqual(sure, r.data);
    }),
    { numRuns: 20_000 },
  );
  assert.deepEqual(quickRule({ clientIdPrefix: 'client-1-', openclawGateway: 'ws://oc-1.tenants.internal:18789/ws' }), { clientIdPrefix: 'client-1-', openclawGateway: 'ws://oc-1.tenants.internal:18789/ws' });
  assert.deepEqual(quickRule({ clientId: 'a', openclawGateway: 'ws://oc-{clientId}.t/ws' }), { clientId: 'a', openclawGateway: 'ws://oc-{clientId}.t/ws' });
  assert.equal(quickRule({ clientId: 'a', openclawGateway: 'ws://oc-{suffix}.t/ws' }), undefined, '{suffix} on an exact rule: the schema names it');
});

const text = fc.oneof(
  fc.tuple(fc.oneof(candidate, shaped), fc.constantFrom(undefined, 1, '\t')).map(([v, indent]) => JSON.stringify(v, null, indent)),
  fc.constantFrom(
    '{"clientIdPrefix": "a-", "openclawGateway": "ws://a/"}  \n',
    '{"openclawGateway": "ws://a:65535/x", "clientId": "b"}',
    '{"clientIdPrefix":"a","clientIdPrefix":"b","openclawGateway":"ws://a/"}',
    '{"openclawGateway":"ws://a/","openclawGateway":"ws://b/"}',
    '{"clientIdPrefix": "a\\u002d", "openclawGateway": "ws://a/"}',
    '{"clientIdPrefix": "a", "openclawGateway": "ws://a/",}',
    '{"clientIdPrefix": "a" "openclawGateway": "ws://a/"}',
    '{"clientIdPrefix": "a", "openclawGateway": "ws://a/"} x',
    '{"clientId": "", "openclawGateway": "ws://a/"}',
    '{"clientIdPrefix": "", "openclawGateway": "ws://a/"}',
    '{}',
    ' {"clientId":"x","openclawGateway":"ws://a/"}',
  ),
);

test('a rule the byte check is sure of is one JSON.parse reads, the schema accepts, and the hand check returns from the spans', () => {
  const spans = new Int32Array(5);
  fc.assert(
    fc.property(text, (t) => {
      const b = Buffer.from(t);
      if (!plainRuleAt(b, 0, b.length, spans)) return;
      const value = JSON.parse(t) as unknown;
      const r = routeRuleSchema.safeParse(value);
      assert.ok(r.success, t);
      const keyField = spans[0] === 1 ? 'clientId' : 'clientIdPrefix';
      const fromSpans = { [keyField]: b.toString('latin1', spans[1], spans[2]), openclawGateway: b.toString('latin1', spans[3], spans[4]) };
      assert.deepEqual(fromSpans, r.data, t);
      assert.deepEqual(quickRule(value), r.data, t);
    }),
    { numRuns: 20_000 },
  );
  const seed = '{"clientIdPrefix": "client-7-", "openclawGateway": "ws://oc-7.tenants.internal:18789/ws"}';
  const b = Buffer.from(`[${seed},`);
  assert.equal(plainRuleAt(b, 1, seed.length + 1, spans), true, 'the seed’s form is checked in the bytes');
  assert.equal(b.toString('latin1', spans[1], spans[2]), 'client-7-');
});
