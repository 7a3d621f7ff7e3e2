/**
 * `stratix-gateway routes …` through the real CLI entry point (main.js): the
 * subcommand is wired, and without a target it uses the gateway's own config
 * ($STRATIX_CONFIG). The command itself is tested in test/sources/routes-command.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { ConfigFile } from './fixtures.js';

test('routes explain and export run from the CLI, against the config named by STRATIX_CONFIG', async () => {
  const file = new ConfigFile({
    routes: [{ clientIdPrefix: 'acme-', openclawGateway: 'ws://127.0.0.1:9001/ws' }],
    defaultRoute: { openclawGateway: 'ws://127.0.0.1:9000/ws' },
  });
  try {
    const env = { ...process.env, STRATIX_CONFIG: file.path };
    const hit = await runCli(['routes', 'explain', 'acme-7'], env);
    assert.equal(hit.code, 0, hit.stderr);
    const explained = JSON.parse(hit.stdout) as { target: string; rule: { kind: string; key: string }; source: { file: string } };
    assert.equal(explained.target, 'ws://127.0.0.1:9001/ws');
    assert.deepEqual([explained.rule.kind, explained.rule.key], ['prefix', 'acme-']);
    assert.equal(explained.source.file, file.path);

    const exported = await runCli(['routes', 'export', '--config', file.path], env);
    assert.equal(exported.code, 0, exported.stderr);
    assert.deepEqual(JSON.parse(exported.stdout), {
      routes: [{ clientIdPrefix: 'acme-', openclawGateway: 'ws://127.0.0.1:9001/ws' }],
      defaultRoute: { openclawGateway: 'ws://127.0.0.1:9000/ws' },
    });

    const usage = await runCli(['routes', 'frobnicate'], env);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /unknown subcommand: frobnicate/);
  } finally {
    file.cleanup();
  }
});
