/**
 * The Origin allow-list and forwarding headers on a standalone gateway: a listed
 * Origin (including Electron's `file://` and a custom scheme) is admitted, another
 * is refused with 403 STRATIX_ERR_ORIGIN_FORBIDDEN, a missing one as configured; the
 * upstream never gets the Origin. In `x-forwarded-for` mode the client's own header
 * is replaced unless the peer is a trusted proxy, which is also who the per-source
 * limits count.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openRelayed, refusedStatus, startGateway } from '../helpers/gateway.js';
import { startUpstream } from '../helpers/upstream.js';
import { TrustedProxies } from '../../src/security/client-address.js';
import { redactTarget } from '../../src/security/redact.js';

const url = (port: number, id: string) => `ws://127.0.0.1:${port}/ws?clientId=${id}`;

describe('Origin allow-list', { timeout: 30_000 }, () => {
  it('admits listed origins, refuses others with 403, and never forwards the Origin', async () => {
    const upstream = await startUpstream();
    const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, auth: { allowedOrigins: ['file://', 'app://stratix', 'https://app.example.com'], allowMissingOrigin: false } });
    try {
      for (const origin of ['file://', 'app://stratix', 'https://APP.example.com']) {
        const c = await openRelayed(url(gw.port, 'o-1'), { headers: { Origin: origin } });
        assert.equal(upstream.upgradeHeaders.at(-1)!.origin, undefined, 'no Origin upstream');
        c.ws.close();
        await c.closed;
      }
      for (const origin of ['https://evil.example', 'null', 'file://x', 'https://app.example.com:8443']) {
        const r = await refusedStatus(url(gw.port, 'o-2'), { headers: { Origin: origin } });
        assert.equal(r.status, 403, origin);
        assert.equal(r.code, 'STRATIX_ERR_ORIGIN_FORBIDDEN');
      }
      const r = await refusedStatus(url(gw.port, 'o-3'));
      assert.equal(r.code, 'STRATIX_ERR_ORIGIN_FORBIDDEN', 'missing Origin refused when allowMissingOrigin is false');
    } finally {
      await gw.close();
      await upstream.close();
    }
  });

  it('by default a request without Origin (a native client) is admitted', async () => {
    const upstream = await startUpstream();
    const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, auth: { allowedOrigins: ['file://'] } });
    try {
      const c = await openRelayed(url(gw.port, 'o-4'));
      c.ws.close();
      await c.closed;
    } finally {
      await gw.close();
      await upstream.close();
    }
  });
});

describe('X-Forwarded-For', { timeout: 30_000 }, () => {
  it('replaces what an untrusted client sent', async () => {
    const upstream = await startUpstream();
    const gw = await startGateway({ defaultRoute: { openclawGateway: upstream.url }, upstream: { forwardedHeaders: 'x-forwarded-for' } });
    try {
      const c = await openRelayed(url(gw.port, 'x-1'), { headers: { 'X-Forwarded-For': '127.0.0.1' }, localAddress: '127.0.0.5' });
      assert.equal(upstream.upgradeHeaders.at(-1)!['x-forwarded-for'], '127.0.0.5', 'the claimed 127.0.0.1 is dropped');
      assert.equal(upstream.upgradeHeaders.at(-1)!['x-forwarded-proto'], 'ws');
      c.ws.close();
      await c.closed;
    } finally {
      await gw.close();
      await upstream.close();
    }
  });

  it('appends to what a trusted proxy sent, and the per-source limit counts the client it names', async () => {
    const upstream = await startUpstream();
    const gw = await startGateway({
      gateway: { trustedProxies: ['127.0.0.7'] },
      defaultRoute: { openclawGateway: upstream.url },
      upstream: { forwardedHeaders: 'x-forwarded-for' },
      admission: { source: { maxConnections: 1 } },
    });
    try {
      const a = await openRelayed(url(gw.port, 'x-2'), { headers: { 'X-Forwarded-For': '203.0.113.9' }, localAddress: '127.0.0.7' });
      assert.equal(upstream.upgradeHeaders.at(-1)!['x-forwarded-for'], '203.0.113.9, 127.0.0.7');
      const b = await openRelayed(url(gw.port, 'x-3'), { headers: { 'X-Forwarded-For': '203.0.113.10' }, localAddress: '127.0.0.7' });
      const r = await refusedStatus(url(gw.port, 'x-4'), { headers: { 'X-Forwarded-For': '198.51.100.1, 203.0.113.9' }, localAddress: '127.0.0.7' });
      assert.equal(r.code, 'STRATIX_ERR_SOURCE_CONNECTIONS', '203.0.113.9 (rightmost untrusted) already holds its one connection');
      for (const c of [a, b]) c.ws.close();
      await Promise.all([a.closed, b.closed]);
    } finally {
      await gw.close();
      await upstream.close();
    }
  });

  it('TrustedProxies: rightmost untrusted hop; untrusted peers are taken as they are; CIDR and mapped IPv4', () => {
    const t = new TrustedProxies(['10.0.0.0/8', '127.0.0.1', '::1']);
    assert.equal(t.clientAddress('10.1.2.3', '1.1.1.1, 2.2.2.2, 10.9.9.9'), '2.2.2.2');
    assert.equal(t.clientAddress('::ffff:127.0.0.1', '3.3.3.3'), '3.3.3.3');
    assert.equal(t.clientAddress('8.8.8.8', '3.3.3.3'), '8.8.8.8');
    assert.equal(t.clientAddress('127.0.0.1', '10.0.0.1, 10.0.0.2'), '10.0.0.1', 'all trusted: the leftmost');
    assert.equal(t.clientAddress('::1', 'garbage'), '::1', 'an unreadable hop: the proxy itself');
    assert.equal(t.clientAddress('127.0.0.1', undefined), '127.0.0.1');
  });
});

describe('redaction', () => {
  it('credential parameters are replaced in logged targets', () => {
    const r = redactTarget('/ws?clientId=c-1&kid=k&ts=1&nonce=abcdefabcdefabcdef&sig=SECRETSIG&token=eyJ.x.y');
    assert.equal(r, '/ws?clientId=c-1&kid=k&ts=1&nonce=[redacted]&sig=[redacted]&token=[redacted]');
    assert.doesNotMatch(r, /SECRETSIG|eyJ/);
  });
});
