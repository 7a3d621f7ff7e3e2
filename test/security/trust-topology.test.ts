/**
 * The start-time loopback check over a packed rule set: `mayTargetLoopback` turns a
 * rule down by its bytes only when `loopbackTargets` would find no loopback upstream in
 * it (fast-check over URLs built to hit the edges: schemes in any case, 127.x, localhost
 * and its subdomains in any case, bracketed IPv6, ports, paths, templates, pools).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseConfig } from '../../src/config/load.js';
import { PackedRules, targetSpec } from '../../src/routing/packed-rules.js';
import { loopbackTargets, mayTargetLoopback } from '../../src/security/trust-topology.js';

const config = parseConfig({ demo: { enabled: false } });

const mixedCase = (s: string) => fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }).map((up) => [...s].map((c, i) => (up[i] ? c.toUpperCase() : c)).join(''));
const host = fc.oneof(
  fc.constantFrom('127.0.0.1', '127.1.2.3', '127.', '128.0.0.1', '1270.0.0.1', '[::1]', '[::ffff:127.0.0.1]', '[2001:db8::1]', 'oc-7.tenants.internal', '{clientId}.internal', 'localhost.example', 'notlocalhost', 'x.localhos'),
  mixedCase('localhost'),
  mixedCase('a.localhost'),
  mixedCase('oc-1.tenants.internal'),
  fc.stringMatching(/^[a-z0-9.:[\]{}-]{0,12}$/),
);
const url = fc
  .tuple(fc.oneof(mixedCase('ws://'), mixedCase('wss://'), fc.constantFrom('http://', 'ws:/', 'w://', '')), host, fc.constantFrom('', ':18789', ':9', ':'), fc.constantFrom('', '/ws', '?a=1', '#x', '/'))
  .map(([s, h, p, rest]) => s + h + p + rest);

describe('mayTargetLoopback', () => {
  it('never turns down a rule whose target loopbackTargets finds', () => {
    fc.assert(
      fc.property(url, (u) => {
        const found = loopbackTargets(config, [{ openclawGateway: u }]).length > 0;
        const bytes = Buffer.from(u);
        if (found) assert.equal(mayTargetLoopback(bytes, 0, bytes.length), true, u);
      }),
      { numRuns: 5_000 },
    );
  });

  it('turns down the seed-style rules, keeps pools, and a packed set yields only the candidates', () => {
    const seed = Buffer.from('ws://oc-123.tenants.internal:18789/ws');
    assert.equal(mayTargetLoopback(seed, 0, seed.length), false);
    const pool = Buffer.from(targetSpec({ openclawGateways: ['ws://a/ws', 'ws://127.0.0.1:9/ws'] }));
    assert.equal(mayTargetLoopback(pool, 0, pool.length), true);
    const rules = PackedRules.from([
      { clientIdPrefix: 'a-', openclawGateway: 'ws://oc-1.tenants.internal:18789/ws' },
      { clientIdPrefix: 'b-', openclawGateway: 'ws://127.0.0.1:9/ws' },
      { clientIdPrefix: 'c-', openclawGateways: ['ws://x/ws', 'ws://LOCALHOST/ws'] },
      { clientId: 'd', openclawGateway: 'wss://Api.LocalHost:443/ws' },
    ]);
    const candidates = [...rules.targets(mayTargetLoopback)];
    assert.deepEqual(candidates, [{ openclawGateway: 'ws://127.0.0.1:9/ws' }, { openclawGateways: ['ws://x/ws', 'ws://LOCALHOST/ws'] }, { openclawGateway: 'wss://Api.LocalHost:443/ws' }]);
    assert.deepEqual(loopbackTargets(config, rules.targets(mayTargetLoopback)), loopbackTargets(config, rules.targets()));
    assert.deepEqual(loopbackTargets(config, rules.targets()).sort(), ['ws://127.0.0.1:9/ws', 'ws://LOCALHOST/ws', 'wss://Api.LocalHost:443/ws'].sort());
  });
});
