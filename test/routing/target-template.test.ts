/**
 * Templates: checked when the config loads, and a clientId can never add a host,
 * port, path segment, userinfo or query parameter (the lookup fails closed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRouteTable, compileTarget, CompiledTemplate, TemplateError } from '../../src/routing/index.js';

function template(source: string): CompiledTemplate {
  const t = compileTarget(source);
  assert.ok(t instanceof CompiledTemplate, source);
  return t;
}

function rejectCode(t: CompiledTemplate, clientId: string, suffix = clientId): string {
  const r = t.render(clientId, suffix);
  return typeof r === 'string' ? `rendered ${r}` : r.code;
}

test('templates are checked at load time', () => {
  const bad: Array<[string, RegExp]> = [
    ['http://oc-{clientId}.x/', /"ws:\/\/" or "wss:\/\/"/],
    ['WS://oc-{clientId}.x/', /lowercase/],
    ['ws://oc-{clientid}.x/', /unknown placeholder \{clientid\}/],
    ['ws://oc-{tenant}.x/', /unknown placeholder/],
    ['ws://oc-{clientId.x/', /unbalanced/],
    ['ws://oc-clientId}.x/', /unbalanced/],
    ['ws://{clientId}@x.internal/', /userinfo/],
    ['ws://u:{clientId}@x.internal/', /userinfo/],
    ['ws://x.internal:{clientId}/', /port/],
    ['ws://x.internal:80{clientId}/', /port/],
    ['ws://[{clientId}]/', /IPv6/],
    ['ws://Oc-{clientId}.x/', /a-z, 0-9/],
    ['ws://oc_{clientId}.x/', /a-z, 0-9/],
    ['ws://oc..{clientId}.x/', /empty label/],
    ['ws://{clientId}.-bad-.x/', /not a valid DNS label/],
    ['ws://x.internal/{clientId}#frag', /#/],
    ['ws://x.internal/{clientId}\\x', /\\/],
    ['ws://x.internal/ {clientId}', /whitespace/],
    [`ws://x.internal/{clientId}/${'a'.repeat(2100)}`, /longer than 2048/],
  ];
  for (const [source, message] of bad) {
    assert.throws(() => compileTarget(source), (e: unknown) => e instanceof TemplateError && message.test(e.message), source);
  }
  for (const source of ['http://x/', 'ws://', 'ws://x/#f', 'not a url', 'ws:///path']) {
    assert.throws(() => compileTarget(source), TemplateError, source);
  }
  assert.equal(compileTarget('ws://127.0.0.1:9000/'), 'ws://127.0.0.1:9000/', 'a static URL stays a string');
  for (const ok of [
    'ws://oc-{clientId}.tenants.internal:18789/ws',
    'wss://{suffix}.acme.internal/ws',
    'ws://u:p@{clientId}.x.internal/',
    'ws://[::1]:9000/t/{clientId}',
    'ws://gw.internal/t/{clientId}/x-{suffix}?tenant={clientId}&v=1',
    'ws://{clientId}/', // a single-label host (e.g. a service name)
  ]) {
    template(ok);
  }
});

test('host templates reject every value that is not a plain lowercase DNS label', () => {
  const t = template('ws://oc-{clientId}.tenants.internal:18789/ws');
  assert.equal(t.render('tenant-42', ''), 'ws://oc-tenant-42.tenants.internal:18789/ws');
  const attempts: Array<[string, string]> = [
    ['a.evil.com', 'HOST_CHARS'], // another host
    ['evil.com:443/x', 'HOST_CHARS'],
    ['x:1', 'HOST_CHARS'], // a port
    ['a/b', 'HOST_CHARS'], // a path
    ['..', 'HOST_CHARS'],
    ['user@evil', 'HOST_CHARS'], // userinfo
    ['@evil.com', 'HOST_CHARS'],
    ['a?x=1', 'HOST_CHARS'],
    ['a#x', 'HOST_CHARS'],
    ['a%2eb', 'HOST_CHARS'],
    ['a\\b', 'HOST_CHARS'],
    ['Acme', 'HOST_CHARS'], // uppercase: Acme and acme must not share an upstream
    ['under_score', 'HOST_CHARS'],
    ['', 'EMPTY'],
    ['a'.repeat(61), 'HOST_LABEL'], // "oc-" + 61 = 64 > 63
    ['x-', 'HOST_LABEL'], // the label would end with "-"
  ];
  for (const [id, code] of attempts) assert.equal(rejectCode(t, id), code, id);
  assert.equal(typeof t.render('a'.repeat(60), ''), 'string', '63 chars is fine');

  const bare = template('ws://{clientId}.t.internal/');
  assert.equal(rejectCode(bare, '-x'), 'HOST_LABEL');
  assert.equal(rejectCode(bare, 'xn--abc'), 'HOST_LABEL');
  const last = template('ws://gw.{clientId}/');
  for (const numeric of ['127', '0x7f', '0x', '2130706433']) assert.equal(rejectCode(last, numeric), 'HOST_NUMERIC', numeric);
  assert.equal(rejectCode(last, '127a'), 'rendered ws://gw.127a/');
  const long = template(`ws://{clientId}.${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'e'.repeat(10)}/`);
  assert.equal(rejectCode(long, 'd'.repeat(63)), 'HOST_LENGTH');
});

test('path and query templates reject separators and dot segments', () => {
  const p = template('ws://gw.internal/t/{clientId}/ws');
  assert.equal(p.render('Acme:laptop@1.x_y-z~', ''), 'ws://gw.internal/t/Acme:laptop@1.x_y-z~/ws');
  for (const [id, code] of [
    ['..', 'PATH_DOT_SEGMENT'],
    ['.', 'PATH_DOT_SEGMENT'],
    ['a/b', 'PATH_CHARS'],
    ['a?admin=1', 'PATH_CHARS'],
    ['a#frag', 'PATH_CHARS'],
    ['%2e%2e', 'PATH_CHARS'],
    ['a\\b', 'PATH_CHARS'],
    ['a b', 'PATH_CHARS'],
    ['', 'EMPTY'],
  ] as const) {
    assert.equal(rejectCode(p, id), code, id);
  }
  const dots = template('ws://gw.internal/t/.{suffix}/ws');
  assert.equal(rejectCode(dots, 'x', '.'), 'PATH_DOT_SEGMENT');
  const q = template('ws://gw.internal/ws?tenant={clientId}&v=1');
  assert.equal(q.render('a1', ''), 'ws://gw.internal/ws?tenant=a1&v=1');
  for (const id of ['a&admin=1', 'a=b', 'a#b', 'a+b', 'a%26b']) assert.equal(rejectCode(q, id), 'QUERY_CHARS', id);
});

test('fuzz: whatever the clientId, a rendered URL keeps the template\'s host shape, port, path depth and query keys', () => {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:@-/?#%\\&=[] ';
  let seed = 7;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed % n;
  };
  const host = template('ws://oc-{clientId}.tenants.internal:18789/ws');
  const path = template('wss://gw.internal/t/{clientId}/x{suffix}?tenant={clientId}');
  let rendered = 0;
  for (let i = 0; i < 20_000; i++) {
    let id = '';
    const len = 1 + rand(20);
    // Mostly safe characters, so that many values render.
    for (let c = 0; c < len; c++) id += alphabet[rand(10) < 8 ? rand(38) : rand(alphabet.length)];
    const h = host.render(id, id);
    if (typeof h === 'string') {
      rendered++;
      const u = new URL(h);
      assert.equal(u.hostname, `oc-${id}.tenants.internal`, id);
      assert.equal(u.port, '18789');
      assert.equal(u.pathname, '/ws');
      assert.equal(u.username + u.password + u.search + u.hash, '');
    }
    const p = path.render(id, id);
    if (typeof p === 'string') {
      const u = new URL(p);
      assert.equal(u.host, 'gw.internal', id);
      assert.deepEqual(u.pathname.split('/'), ['', 't', id, `x${id}`], id);
      assert.deepEqual([...u.searchParams.keys()], ['tenant'], id);
      assert.equal(u.searchParams.get('tenant'), id);
      assert.equal(u.username + u.password + u.hash, '');
    }
  }
  assert.ok(rendered > 1000, `only ${rendered} ids rendered`);
});

test('a rule whose template rejects the clientId is a miss, without falling through to the default', () => {
  const t = buildRouteTable(
    [{ clientIdPrefix: 'acme-', openclawGateway: 'ws://{suffix}.acme.internal/ws' }],
    { openclawGateway: 'ws://default/' },
  );
  assert.equal(t.resolve('acme-east')?.target, 'ws://east.acme.internal/ws');
  assert.equal(t.resolve('acme-evil.com'), undefined);
  assert.equal(t.resolve('acme-'), undefined, 'an empty {suffix} is rejected');
  const e = t.explain('acme-evil.com');
  assert.equal(e.matched, false);
  assert.equal(e.rejected?.code, 'HOST_CHARS');
  assert.match(e.reason, /no fall-through/);
  assert.equal(t.resolve('other')?.target, 'ws://default/');
});

test('the default route renders {suffix} as the whole clientId', () => {
  const t = buildRouteTable([], { openclawGateway: 'ws://oc-{suffix}.t.internal/' });
  assert.equal(t.resolve('abc')?.target, 'ws://oc-abc.t.internal/');
});
