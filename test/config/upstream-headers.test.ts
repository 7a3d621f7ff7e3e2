/**
 * Regression: `upstream.headers` values with CR/LF passed validation, and every
 * upstream upgrade then threw inside http.request (ERR_INVALID_CHAR), killing the
 * worker on each connection. Header names must be RFC 9110 tokens, values visible
 * characters (no CR, LF, NUL), and the names the gateway sets itself are refused.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { openClient, startGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';

function issuesOf(headers: Record<string, string>): readonly string[] {
  try {
    parseConfig({ upstream: { headers } });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.issues;
  }
  assert.fail(`expected ${JSON.stringify(headers)} to be refused`);
}

describe('upstream.headers validation', () => {
  it('a value with CR/LF is refused, naming the header', () => {
    const issues = issuesOf({ 'X-Tenant': 'a\r\nX-Injected: 1' });
    assert.ok(issues.some((i) => i.startsWith('upstream.headers.X-Tenant: ')), issues.join('\n'));
  });

  it('a value with a bare LF, a bare CR or a NUL is refused', () => {
    for (const v of ['a\nb', 'a\rb', 'a\u0000b', 'caf\u20ac']) {
      assert.ok(issuesOf({ 'X-A': v }).some((i) => i.startsWith('upstream.headers.X-A: ')), JSON.stringify(v));
    }
  });

  it('a name that is not a token is refused', () => {
    for (const name of ['X A', 'X:A', 'X\r\nA', '']) {
      assert.ok(issuesOf({ [name]: 'v' }).some((i) => i.startsWith('upstream.headers')), JSON.stringify(name));
    }
  });

  it('the headers the gateway writes itself are refused', () => {
    for (const name of ['Connection', 'upgrade', 'Sec-WebSocket-Key', 'sec-websocket-version', 'Sec-WebSocket-Protocol', 'Content-Length', 'Transfer-Encoding']) {
      assert.ok(issuesOf({ [name]: 'x' }).some((i) => i.startsWith(`upstream.headers.${name}: `)), name);
    }
  });

  it('ordinary headers still load and reach the upstream', async () => {
    const upstream = await startUpstream();
    const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, upstream: { headers: { 'X-Tenant': 'acme corp; v=1', Authorization: 'Bearer t0k3n' } } });
    try {
      const c = await openClient(gw.port, 'hdr-1');
      c.ws.send('x');
      await c.waitFor(1);
      assert.equal(upstream.upgradeHeaders.at(-1)!['x-tenant'], 'acme corp; v=1');
      assert.equal(upstream.upgradeHeaders.at(-1)!.authorization, 'Bearer t0k3n');
      c.ws.close();
      await c.closed;
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});
