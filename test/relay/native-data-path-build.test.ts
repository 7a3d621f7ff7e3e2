/**
 * The native addon builds without liburing (epoll only), as on a machine where
 * Debian's liburing-dev is not installed: `npm ci` builds it before the test
 * script installs liburing. A clean clone once failed there, because the io_uring
 * pool's sizes, which js_start checks in either mode, were defined only under
 * HAVE_LIBURING. The build is loaded in a process of its own and asked for
 * io_uring: an epoll-only build answers with epoll.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const loader = new URL('../../src/relay/native-data-path.js', import.meta.url).href;

describe('native data path: the build', () => {
  it('builds epoll-only without liburing, and that build relays in epoll mode when io_uring is asked for', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stratix-native-build-'));
    try {
      const out = join(dir, 'stratix_relay.node');
      const b = spawnSync('bash', [join(root, 'native/relay/build.sh')], { env: { ...process.env, STRATIX_NATIVE_URING: '0', STRATIX_NATIVE_OUT: out }, encoding: 'utf8' });
      assert.equal(b.status, 0, `build.sh without liburing: ${b.stderr}`);
      assert.match(b.stdout, /io_uring: no/);
      const script = `const m = await import(${JSON.stringify(loader)}); const r = m.loadNativeRelay(); if (r instanceof Error) { console.log('error ' + r.message); } else { console.log('mode ' + r.mode); } process.exit(0);`;
      const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, STRATIX_NATIVE_RELAY: out, STRATIX_NATIVE_IO_URING: '1' }, encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
      assert.equal(run.stdout.trim(), 'mode epoll');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
