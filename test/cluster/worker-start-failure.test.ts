/**
 * A worker that exits on its own before it was ever ready fails the instance's start:
 * the CLI exits 1 and says which worker. (It used to be restarted by an unref'd timer,
 * the only thing left in the primary's event loop, so the process ended with status 0.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, writeTempConfig } from '../helpers/cli.js';

test('a worker that cannot boot (a bad gateway.workerNodeOptions preload) makes the start fail with exit status 1', async () => {
  const cfg = writeTempConfig({ gateway: { listen: '127.0.0.1:0', workers: 1, workerNodeOptions: ['--import=/nonexistent/stratix-preload.mjs'] } });
  try {
    const res = await runCli(['--config', cfg.path]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /stratix-gateway: cannot start: worker 0 exited before it was ready \(exit code 1, signal null\)/);
  } finally {
    cfg.cleanup();
  }
});
