/**
 * The etcd client (etcd3 with gRPC and protobufjs, ~12 MiB of RSS) is loaded only by
 * an etcd route source or the `routes` command: a gateway process on file routes,
 * every worker included, must not import it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

const loadedModules = (imports: string[]): string[] => {
  const urls = imports.map((p) => new URL(p, import.meta.url).href);
  const script = `for (const u of ${JSON.stringify(urls)}) await import(u);
const { createRequire } = await import('node:module');
console.log(JSON.stringify(Object.keys(createRequire(import.meta.url).cache)));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })) as string[];
};

test('the gateway, its primary and the CLI commands start without loading etcd3', () => {
  const loaded = loadedModules(['../../src/server/gateway.js', '../../src/cluster/primary.js', '../../src/cli/run.js', '../../src/cli/routes-command.js']);
  assert.ok(loaded.some((m) => m.includes('/node_modules/pino/')), 'the probe sees CommonJS packages the gateway imports');
  assert.deepEqual(loaded.filter((m) => m.includes('/node_modules/etcd3/')), []);
});

test('the etcd route source still loads it when asked', () => {
  const loaded = loadedModules(['../../src/sources/etcd-route-source.js']);
  assert.ok(loaded.some((m) => m.includes('/node_modules/etcd3/')));
});
