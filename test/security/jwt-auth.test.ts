/**
 * Bearer JWTs (auth.mode "jwt") on standalone gateways: keys from files for each
 * algorithm (HS256, RS256, ES256, EdDSA) and from a JWKS served by a real HTTP
 * server on loopback. The right token is relayed (header or query); each wrong one
 * is refused with its documented code before any upstream connection: expired,
 * not yet valid, wrong sub, wrong iss/aud, bad signature, an algorithm not
 * allowed, no token, two tokens. JWKS down: a cached key set keeps verifying; with
 * none, 503 STRATIX_ERR_AUTH_UNAVAILABLE until the endpoint is back. A new kid in
 * the JWKS is fetched on first sight.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWTPayload, type CryptoKey } from 'jose';
import type { Gateway } from '../../src/server/gateway.js';
import { openRelayed, refusedStatus, startGateway } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { scrapeSample } from '../helpers/raw-http.js';
import { startJwksServer, type JwksServer } from '../helpers/jwks-server.js';

const HS_SECRET = 'hs256-secret-0123456789-0123456789-0123456789';

async function token(alg: string, key: CryptoKey | Uint8Array, claims: JWTPayload, opts: { kid?: string; expSeconds?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ exp: now + (opts.expSeconds ?? 300), iat: now, ...claims })
    .setProtectedHeader({ alg, ...(opts.kid === undefined ? {} : { kid: opts.kid }) })
    .sign(key);
}

describe('JWT from key files', { timeout: 60_000 }, () => {
  let upstream: TestUpstream;
  let gw: Gateway;
  let dir: string;
  const keys: Record<string, CryptoKey> = {};

  before(async () => {
    upstream = await startUpstream();
    dir = mkdtempSync(join(tmpdir(), 'stratix-jwt-'));
    writeFileSync(join(dir, 'hs.key'), HS_SECRET);
    const keyFiles: Array<Record<string, string>> = [{ file: join(dir, 'hs.key'), alg: 'HS256' }];
    for (const [alg, gen] of [['RS256', {}], ['ES256', {}], ['EdDSA', { crv: 'Ed25519' }]] as const) {
      const { publicKey, privateKey } = await generateKeyPair(alg, { ...gen, extractable: true });
      keys[alg] = privateKey;
      writeFileSync(join(dir, `${alg}.pem`), await exportSPKI(publicKey));
      keyFiles.push({ file: join(dir, `${alg}.pem`), alg });
    }
    gw = await startGateway({
      defaultRoute: { openclawGateway: upstream.url },
      auth: { mode: 'jwt', jwt: { algorithms: ['HS256', 'RS256', 'ES256', 'EdDSA'], keyFiles, issuer: 'https://id.example', audience: 'stratix', clockToleranceMs: 0 } },
      admission: { clientId: { handshakesPerSecond: 0 } },
    });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const good = (sub: string): JWTPayload => ({ sub, iss: 'https://id.example', aud: 'stratix' });
  const hs = new TextEncoder().encode(HS_SECRET);
  const url = (clientId: string, t?: string) => `ws://127.0.0.1:${gw?.port}/ws?clientId=${clientId}${t === undefined ? '' : `&token=${t}`}`;

  async function refused(u: string, status: number, code: string, reason: string, headers?: Record<string, string>) {
    const upgrades = upstream.upgradeHeaders.length;
    const before = await scrapeSample(gw.port, 'stratix_auth_refusals_total', { reason });
    const r = await refusedStatus(u, headers === undefined ? undefined : { headers });
    assert.equal(r.status, status);
    assert.equal(r.code, code);
    assert.equal(await scrapeSample(gw.port, 'stratix_auth_refusals_total', { reason }), before + 1, `counted as ${reason}`);
    assert.equal(upstream.upgradeHeaders.length, upgrades, 'no upstream connection');
  }

  it('each algorithm: a good token in the query is relayed', async () => {
    for (const alg of ['HS256', 'RS256', 'ES256', 'EdDSA']) {
      const t = await token(alg, alg === 'HS256' ? hs : keys[alg]!, good(`c-${alg}`));
      const c = await openRelayed(url(`c-${alg}`, t));
      c.ws.close();
      await c.closed;
    }
  });

  it('Authorization: Bearer works too; both at once is refused', async () => {
    const t = await token('ES256', keys.ES256!, good('c-bearer'));
    const c = await openRelayed(url('c-bearer'), { headers: { Authorization: `Bearer ${t}` } });
    c.ws.close();
    await c.closed;
    await refused(url('c-bearer', t), 401, 'STRATIX_ERR_AUTH_INVALID', 'malformed', { Authorization: `Bearer ${t}` });
  });

  it('a token for another clientId → 403 STRATIX_ERR_AUTH_FORBIDDEN', async () => {
    await refused(url('c-mine', await token('RS256', keys.RS256!, good('c-theirs'))), 403, 'STRATIX_ERR_AUTH_FORBIDDEN', 'wrong_client');
  });

  it('expired → 401 STRATIX_ERR_AUTH_EXPIRED; not yet valid (nbf) → the same', async () => {
    await refused(url('c-1', await token('ES256', keys.ES256!, good('c-1'), { expSeconds: -10 })), 401, 'STRATIX_ERR_AUTH_EXPIRED', 'expired');
    await refused(url('c-1', await token('ES256', keys.ES256!, { ...good('c-1'), nbf: Math.floor(Date.now() / 1000) + 120 })), 401, 'STRATIX_ERR_AUTH_EXPIRED', 'expired');
  });

  it('wrong iss, wrong aud → 401 STRATIX_ERR_AUTH_INVALID', async () => {
    await refused(url('c-1', await token('ES256', keys.ES256!, { ...good('c-1'), iss: 'https://evil.example' })), 401, 'STRATIX_ERR_AUTH_INVALID', 'wrong_issuer');
    await refused(url('c-1', await token('ES256', keys.ES256!, { ...good('c-1'), aud: 'other' })), 401, 'STRATIX_ERR_AUTH_INVALID', 'wrong_audience');
  });

  it('no exp → refused (requireExp)', async () => {
    const t = await new SignJWT(good('c-1')).setProtectedHeader({ alg: 'ES256' }).sign(keys.ES256!);
    await refused(url('c-1', t), 401, 'STRATIX_ERR_AUTH_INVALID', 'bad_claims');
  });

  it('a bad signature, a token signed by an unknown key, garbage → 401 STRATIX_ERR_AUTH_INVALID', async () => {
    const t = await token('ES256', keys.ES256!, good('c-1'));
    const [h, p] = t.split('.');
    const other = await token('ES256', keys.ES256!, good('c-2'));
    await refused(url('c-1', `${h}.${p}.${other.split('.')[2]}`), 401, 'STRATIX_ERR_AUTH_INVALID', 'bad_signature');
    const { privateKey } = await generateKeyPair('RS256');
    await refused(url('c-1', await token('RS256', privateKey, good('c-1'))), 401, 'STRATIX_ERR_AUTH_INVALID', 'bad_signature');
    await refused(url('c-1', 'not-a-jwt'), 401, 'STRATIX_ERR_AUTH_INVALID', 'malformed');
    await refused(url('c-1', `${h}.${p}.`), 401, 'STRATIX_ERR_AUTH_INVALID', 'malformed');
  });

  it('no token → 401 STRATIX_ERR_AUTH_REQUIRED', async () => {
    await refused(url('c-1'), 401, 'STRATIX_ERR_AUTH_REQUIRED', 'missing');
  });
});

describe('JWT from a JWKS endpoint', { timeout: 60_000 }, () => {
  let upstream: TestUpstream;
  let jwks: JwksServer;
  let gw: Gateway;
  let priv1: CryptoKey;
  let priv2: CryptoKey;
  let pub2: Record<string, unknown>;

  before(async () => {
    upstream = await startUpstream();
    const k1 = await generateKeyPair('ES256', { extractable: true });
    const k2 = await generateKeyPair('ES256', { extractable: true });
    priv1 = k1.privateKey;
    priv2 = k2.privateKey;
    pub2 = { ...(await exportJWK(k2.publicKey)), kid: 'k2', alg: 'ES256' };
    jwks = await startJwksServer({ keys: [{ ...(await exportJWK(k1.publicKey)), kid: 'k1', alg: 'ES256' }] });
    gw = await startJwksGateway(jwks.url, upstream.url);
  });
  after(async () => {
    await gw.close();
    await upstream.close();
    await jwks.stop();
  });

  const url = (port: number, clientId: string, t: string) => `ws://127.0.0.1:${port}/ws?clientId=${clientId}&token=${t}`;

  it('a token signed with a JWKS key is relayed', async () => {
    const c = await openRelayed(url(gw.port, 'j-1', await token('ES256', priv1, { sub: 'j-1' }, { kid: 'k1' })));
    c.ws.close();
    await c.closed;
  });

  it('JWKS down with a cached key set: still verified; the failed fetches are counted', async () => {
    await jwks.stop();
    await gw.admission.guard.reload(); // triggers a fetch, which fails
    await new Promise((r) => setTimeout(r, 100));
    assert.ok((await scrapeSample(gw.port, 'stratix_jwks_fetches_total', { result: 'error' })) >= 1);
    assert.ok((await scrapeSample(gw.port, 'stratix_jwks_age_seconds')) >= 0, 'a key set is held');
    const c = await openRelayed(url(gw.port, 'j-2', await token('ES256', priv1, { sub: 'j-2' }, { kid: 'k1' })));
    c.ws.close();
    await c.closed;
    await jwks.start();
  });

  it('a new kid is fetched on first sight (key rotation)', async () => {
    jwks.keys = { keys: [...jwks.keys.keys, pub2 as never] };
    const hits = jwks.hits;
    const c = await openRelayed(url(gw.port, 'j-3', await token('ES256', priv2, { sub: 'j-3' }, { kid: 'k2' })));
    assert.ok(jwks.hits > hits, 'the JWKS was fetched again');
    c.ws.close();
    await c.closed;
  });

  it('JWKS down and no key set yet: 503 STRATIX_ERR_AUTH_UNAVAILABLE with Retry-After; verified once it is back', async () => {
    await jwks.stop();
    const cold = await startJwksGateway(jwks.url, upstream.url);
    try {
      assert.equal(await scrapeSample(cold.port, 'stratix_jwks_age_seconds'), -1);
      const t = await token('ES256', priv1, { sub: 'j-4' }, { kid: 'k1' });
      const r = await refusedStatus(url(cold.port, 'j-4', t));
      assert.equal(r.status, 503);
      assert.equal(r.code, 'STRATIX_ERR_AUTH_UNAVAILABLE');
      assert.match(String(r.headers['retry-after']), /^\d+$/);
      assert.equal(await scrapeSample(cold.port, 'stratix_auth_refusals_total', { reason: 'keys_unavailable' }), 1);
      await jwks.start();
      const c = await openRelayed(url(cold.port, 'j-4', t)); // cooldownMs 0: the next token fetches
      c.ws.close();
      await c.closed;
    } finally {
      await cold.close();
    }
  });
});

function startJwksGateway(jwksUrl: string, upstreamUrl: string): Promise<Gateway> {
  return startGateway({
    defaultRoute: { openclawGateway: upstreamUrl },
    auth: { mode: 'jwt', jwt: { algorithms: ['ES256'], jwks: { url: jwksUrl, cooldownMs: 0, timeoutMs: 1_000 } } },
    admission: { clientId: { handshakesPerSecond: 0 } },
  });
}
