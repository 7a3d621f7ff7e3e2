/**
 * Signed handshakes (auth.mode "hmac") on a standalone gateway: the right
 * signature is relayed; each wrong one is refused with its documented status and
 * code before any upstream connection (bad signature, expired and future ts,
 * replayed nonce, unknown kid, malformed, missing, a token instead), counted by
 * reason; stratix.v1 clients get 4401; keys rotate by adding and removing files
 * (watched), and a bad key file keeps the old keys. The docs' worked example
 * verifies, and `stratix-gateway sign` prints it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import type { Gateway } from '../../src/server/gateway.js';
import { sign, stringToSign } from '../../src/security/handshake-signature.js';
import { openRelayed, refusedStatus, startGateway, until, untilAsync } from '../helpers/gateway.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { scrapeSample } from '../helpers/raw-http.js';
import { runCli } from '../helpers/cli.js';

const SECRET_A = 'secret-a-0123456789-0123456789-0123456789';
const SECRET_B = 'secret-b-0123456789-0123456789-0123456789';

let nonceSeq = 0;
function nonce(): string {
  return `nonce${String(++nonceSeq).padStart(12, '0')}x`;
}

function signedUrl(port: number, o: { clientId: string; kid: string; secret: string; ts?: number; nonce?: string; sig?: string; extra?: string }): string {
  const ts = String(o.ts ?? Date.now());
  const n = o.nonce ?? nonce();
  const sig = o.sig ?? sign(Buffer.from(o.secret), o.kid, o.clientId, ts, n);
  return `ws://127.0.0.1:${port}/ws?${new URLSearchParams({ clientId: o.clientId, kid: o.kid, ts, nonce: n, sig }).toString()}${o.extra ?? ''}`;
}

describe('signed handshakes (auth.mode hmac)', { timeout: 60_000 }, () => {
  let upstream: TestUpstream;
  let gw: Gateway;
  let keysDir: string;

  before(async () => {
    upstream = await startUpstream();
    keysDir = mkdtempSync(join(tmpdir(), 'stratix-keys-'));
    writeFileSync(join(keysDir, 'k1'), `${SECRET_A}\n`);
    writeFileSync(join(keysDir, '.swap'), 'ignored: dot files are not keys');
    gw = await startGateway({
      defaultRoute: { openclawGateway: upstream.url },
      auth: { mode: 'hmac', hmac: { keysDir, maxSkewMs: 30_000 } },
      admission: { clientId: { handshakesPerSecond: 0 } },
    });
  });
  after(async () => {
    await gw.close();
    await upstream.close();
    rmSync(keysDir, { recursive: true, force: true });
  });

  /** Refused with `status`/`code`, counted under `reason`, and no upstream connection was made. */
  async function refused(url: string, status: number, code: string, reason: string) {
    const upgrades = upstream.upgradeHeaders.length;
    const before = await scrapeSample(gw.port, 'stratix_auth_refusals_total', { reason });
    const r = await refusedStatus(url);
    assert.equal(r.status, status);
    assert.equal(r.code, code);
    assert.equal(await scrapeSample(gw.port, 'stratix_auth_refusals_total', { reason }), before + 1, `counted as ${reason}`);
    assert.equal(upstream.upgradeHeaders.length, upgrades, 'no upstream connection for a refused handshake');
    assert.equal(gw.sessions.size, 0);
    return r;
  }

  it('a correct signature is relayed', async () => {
    const c = await openRelayed(signedUrl(gw.port, { clientId: 'c-ok', kid: 'k1', secret: SECRET_A }));
    assert.equal(c.messages[0]!.data.toString(), 'probe');
    c.ws.close();
    await c.closed;
  });

  it('a bad signature → 401 STRATIX_ERR_AUTH_INVALID (bad_signature)', async () => {
    await refused(signedUrl(gw.port, { clientId: 'c-1', kid: 'k1', secret: SECRET_B }), 401, 'STRATIX_ERR_AUTH_INVALID', 'bad_signature');
    // Signed for another clientId.
    const ts = String(Date.now());
    const n = nonce();
    const other = sign(Buffer.from(SECRET_A), 'k1', 'c-2', ts, n);
    await refused(signedUrl(gw.port, { clientId: 'c-1', kid: 'k1', secret: SECRET_A, ts: Number(ts), nonce: n, sig: other }), 401, 'STRATIX_ERR_AUTH_INVALID', 'bad_signature');
  });

  it('a ts outside the skew window (past or future) → 401 STRATIX_ERR_AUTH_EXPIRED with a Date header', async () => {
    const r = await refused(signedUrl(gw.port, { clientId: 'c-1', kid: 'k1', secret: SECRET_A, ts: Date.now() - 31_000 }), 401, 'STRATIX_ERR_AUTH_EXPIRED', 'expired');
    assert.ok(Math.abs(Date.parse(String(r.headers.date)) - Date.now()) < 5_000, 'Date tells the client the gateway clock');
    await refused(signedUrl(gw.port, { clientId: 'c-1', kid: 'k1', secret: SECRET_A, ts: Date.now() + 31_000 }), 401, 'STRATIX_ERR_AUTH_EXPIRED', 'expired');
    const c = await openRelayed(signedUrl(gw.port, { clientId: 'c-skew', kid: 'k1', secret: SECRET_A, ts: Date.now() - 25_000 }));
    c.ws.close();
    await c.closed;
  });

  it('a replayed nonce → 401 STRATIX_ERR_AUTH_REPLAYED; the same nonce for another clientId is fine', async () => {
    const n = nonce();
    const ts = Date.now();
    const url = signedUrl(gw.port, { clientId: 'c-replay', kid: 'k1', secret: SECRET_A, ts, nonce: n });
    const c = await openRelayed(url);
    c.ws.close();
    await c.closed;
    await refused(url, 401, 'STRATIX_ERR_AUTH_REPLAYED', 'replayed');
    const d = await openRelayed(signedUrl(gw.port, { clientId: 'c-replay-2', kid: 'k1', secret: SECRET_A, ts, nonce: n }));
    d.ws.close();
    await d.closed;
  });

  it('an unknown kid → 401 STRATIX_ERR_AUTH_INVALID (unknown_kid)', async () => {
    await refused(signedUrl(gw.port, { clientId: 'c-1', kid: 'nope', secret: SECRET_A }), 401, 'STRATIX_ERR_AUTH_INVALID', 'unknown_kid');
  });

  it('malformed or repeated parameters → 401 STRATIX_ERR_AUTH_INVALID (malformed); none → 401 STRATIX_ERR_AUTH_REQUIRED', async () => {
    const good = signedUrl(gw.port, { clientId: 'c-1', kid: 'k1', secret: SECRET_A });
    await refused(`${good}&nonce=again-0123456789abc`, 401, 'STRATIX_ERR_AUTH_INVALID', 'malformed');
    await refused(good.replace(/&sig=[^&]*/, ''), 401, 'STRATIX_ERR_AUTH_INVALID', 'malformed');
    await refused(good.replace(/ts=\d+/, 'ts=1e12'), 401, 'STRATIX_ERR_AUTH_INVALID', 'malformed');
    await refused(good.replace(/nonce=[^&]*/, 'nonce=short'), 401, 'STRATIX_ERR_AUTH_INVALID', 'malformed');
    await refused(`ws://127.0.0.1:${gw.port}/ws?clientId=c-1`, 401, 'STRATIX_ERR_AUTH_REQUIRED', 'missing');
    await refused(`ws://127.0.0.1:${gw.port}/ws?clientId=c-1&token=a.b.c`, 401, 'STRATIX_ERR_AUTH_INVALID', 'malformed');
  });

  it('a stratix.v1 client is refused with close 4401 and the code as reason', async () => {
    const ws = new WebSocket(signedUrl(gw.port, { clientId: 'c-v1', kid: 'k1', secret: SECRET_B }), ['stratix.v1']);
    ws.on('error', () => {});
    const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
    assert.equal(code, 4401);
    assert.equal(reason.toString(), 'STRATIX_ERR_AUTH_INVALID');
  });

  it('a stratix.v1 connection (a new session or a resume) with expired credentials is refused with 4401 before its HELLO', async () => {
    const ws = new WebSocket(signedUrl(gw.port, { clientId: 'c-v1-old', kid: 'k1', secret: SECRET_A, ts: Date.now() - 120_000 }), ['stratix.v1']);
    ws.on('error', () => {});
    const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
    assert.equal(code, 4401);
    assert.equal(reason.toString(), 'STRATIX_ERR_AUTH_EXPIRED');
  });

  it('keys rotate: a new key file is accepted once seen, a removed one is refused, a bad file keeps the old keys', async () => {
    writeFileSync(join(keysDir, 'k2'), SECRET_B);
    await until(() => gw.admission.guard.authenticates && kidsOf(gw).includes('k2'), 'k2 to be loaded', 10_000);
    const c = await openRelayed(signedUrl(gw.port, { clientId: 'c-k2', kid: 'k2', secret: SECRET_B }));
    c.ws.close();
    await c.closed;
    unlinkSync(join(keysDir, 'k1'));
    await until(() => !kidsOf(gw).includes('k1'), 'k1 to be dropped', 10_000);
    await refused(signedUrl(gw.port, { clientId: 'c-1', kid: 'k1', secret: SECRET_A }), 401, 'STRATIX_ERR_AUTH_INVALID', 'unknown_kid');
    const before = await scrapeSample(gw.port, 'stratix_auth_key_reloads_total', { result: 'error' });
    writeFileSync(join(keysDir, 'short'), 'too short');
    await untilAsync(async () => (await scrapeSample(gw.port, 'stratix_auth_key_reloads_total', { result: 'error' })) > before, 'the bad reload to be counted', 10_000);
    assert.deepEqual(kidsOf(gw), ['k2'], 'the old keys stay');
    const d = await openRelayed(signedUrl(gw.port, { clientId: 'c-k2b', kid: 'k2', secret: SECRET_B }));
    d.ws.close();
    await d.closed;
    unlinkSync(join(keysDir, 'short'));
  });
});

function kidsOf(gw: Gateway): string[] {
  return gw.admission.guard.kids.slice().sort();
}

describe('the worked example of docs/protocol.md', () => {
  const doc = readFileSync(new URL('../../../docs/protocol.md', import.meta.url), 'utf8');
  const field = (name: string): string => {
    const m = new RegExp(`^\\| \`${name}\` \\| \`([^\`]*)\` \\|`, 'm').exec(doc);
    assert.ok(m, `docs/protocol.md's example table has ${name}`);
    return m[1]!;
  };

  it('the documented sig is HMAC-SHA256 of the documented string, base64url without padding', () => {
    const [secret, kid, clientId, ts, n, sig] = ['secret', 'kid', 'clientId', 'ts', 'nonce', 'sig'].map(field) as [string, string, string, string, string, string];
    assert.equal(sign(Buffer.from(secret), kid, clientId, ts, n), sig);
    assert.ok(doc.includes(JSON.stringify(stringToSign(kid, clientId, ts, n)).slice(1, -1)), 'the string to sign is spelled out');
    assert.doesNotMatch(sig, /[=+/]/);
  });

  it('`stratix-gateway sign` prints it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stratix-sign-'));
    try {
      const file = join(dir, 'key');
      writeFileSync(file, `${field('secret')}\n`);
      const r = await runCli(['sign', '--kid', field('kid'), '--secret-file', file, '--ts', field('ts'), '--nonce', field('nonce'), field('clientId')]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), `clientId=${field('clientId')}&kid=${field('kid')}&ts=${field('ts')}&nonce=${field('nonce')}&sig=${field('sig')}`);
      const bad = await runCli(['sign', '--kid', 'k', '--secret-file', file]);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /usage: stratix-gateway sign/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
