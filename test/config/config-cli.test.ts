/**
 * The config at the command line: `check-config`, where the config file is
 * looked for (`--config`, $STRATIX_CONFIG, config/route.json), and the gateway
 * refusing to start on a bad config. Runs the real CLI.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveConfigPath } from '../../src/cli/config-path.js';
import { CONFIG_ENV_VAR, DEFAULT_CONFIG_PATH } from '../../src/config/load.js';
import { CLI, runCli, writeTempConfig } from '../helpers/cli.js';

const GOOD = {
  gateway: { listen: ':8080', maxConnections: 100000 },
  routes: [{ clientIdPrefix: 'client-1-1000', openclawGateway: 'ws://gateway1.example.com:8080/ws' }],
};

/** One setting wrong in five different ways; every path must be reported. */
const BAD = {
  gateway: { listen: 'nowhere', maxConnections: 0, foo: 1 },
  routes: [{ clientIdPrefix: 'client-', openclawGateway: 'http://gw.example.com/ws', bogus: 1 }],
};
const BAD_PATHS = ['gateway.listen', 'gateway.maxConnections', 'gateway.foo', 'routes[0].openclawGateway', 'routes[0].bogus'];

/** The environment without STRATIX_CONFIG, plus `extra`. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, ...extra };
  if (extra[CONFIG_ENV_VAR] === undefined) delete e[CONFIG_ENV_VAR];
  return e;
}

function assertNamesEveryBadPath(stderr: string): void {
  for (const path of BAD_PATHS) assert.match(stderr, new RegExp(`^\\s*${path.replace(/[.[\]]/g, '\\$&')}: `, 'm'), `missing ${path} in:\n${stderr}`);
}

/** Runs the CLI in `cwd` (to exercise the default, cwd-relative config path). */
function runCliIn(cwd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd, env: env(), timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('resolveConfigPath', () => {
  it('--config wins, then $STRATIX_CONFIG, then config/route.json', () => {
    assert.equal(DEFAULT_CONFIG_PATH, 'config/route.json');
    assert.equal(CONFIG_ENV_VAR, 'STRATIX_CONFIG');
    assert.equal(resolveConfigPath('flag.json', { STRATIX_CONFIG: 'env.json' }), 'flag.json');
    assert.equal(resolveConfigPath(undefined, { STRATIX_CONFIG: 'env.json' }), 'env.json');
    assert.equal(resolveConfigPath(undefined, {}), 'config/route.json');
    assert.equal(resolveConfigPath(undefined, { STRATIX_CONFIG: '' }), 'config/route.json');
  });
});

describe('stratix-gateway check-config', () => {
  let good: ReturnType<typeof writeTempConfig>;
  let bad: ReturnType<typeof writeTempConfig>;
  let notJson: ReturnType<typeof writeTempConfig>;
  before(() => {
    good = writeTempConfig(GOOD);
    bad = writeTempConfig(BAD);
    notJson = writeTempConfig({});
    writeFileSync(notJson.path, '{"gateway": ');
  });
  after(() => {
    good.cleanup();
    bad.cleanup();
    notJson.cleanup();
  });

  it('exits 0 for a good file', async () => {
    const r = await runCli(['check-config', good.path], env());
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /ok/);
  });

  it('exits non-zero for a bad file, listing every bad setting by path', async () => {
    const r = await runCli(['check-config', bad.path], env());
    assert.notEqual(r.code, 0);
    assertNamesEveryBadPath(r.stderr);
  });

  it('accepts --config FILE, which wins over $STRATIX_CONFIG', async () => {
    const r = await runCli(['check-config', '--config', good.path], env({ STRATIX_CONFIG: bad.path }));
    assert.equal(r.code, 0, r.stderr);
  });

  it('without a file, checks $STRATIX_CONFIG', async () => {
    const ok = await runCli(['check-config'], env({ STRATIX_CONFIG: good.path }));
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(ok.stdout.includes(good.path), ok.stdout);
    const ko = await runCli(['check-config'], env({ STRATIX_CONFIG: bad.path }));
    assert.notEqual(ko.code, 0);
    assertNamesEveryBadPath(ko.stderr);
  });

  it('without a file or $STRATIX_CONFIG, checks config/route.json in the working directory', async () => {
    mkdirSync(join(bad.dir, 'config'));
    writeFileSync(join(bad.dir, 'config', 'route.json'), JSON.stringify(BAD));
    const ko = await runCliIn(bad.dir, ['check-config']);
    assert.notEqual(ko.code, 0);
    assert.match(ko.stderr, /config\/route\.json/);
    assertNamesEveryBadPath(ko.stderr);

    mkdirSync(join(good.dir, 'config'));
    writeFileSync(join(good.dir, 'config', 'route.json'), JSON.stringify(GOOD));
    const ok = await runCliIn(good.dir, ['check-config']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /config\/route\.json: ok/);
  });

  it('a missing file is a clear error', async () => {
    const missing = join(good.dir, 'no-such.json');
    const r = await runCli(['check-config', missing], env());
    assert.notEqual(r.code, 0);
    assert.ok(r.stderr.includes(missing), r.stderr);
    assert.match(r.stderr, /cannot read.*ENOENT/);
    assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  });

  it('invalid JSON is a clear error', async () => {
    const r = await runCli(['check-config', notJson.path], env());
    assert.notEqual(r.code, 0);
    assert.ok(r.stderr.includes(notJson.path), r.stderr);
    assert.match(r.stderr, /not valid JSON/);
    assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  });
});

describe('stratix-gateway (run) with a bad config', () => {
  let bad: ReturnType<typeof writeTempConfig>;
  before(() => {
    bad = writeTempConfig(BAD);
  });
  after(() => bad.cleanup());

  it('--config FILE: refuses to start, naming every bad setting', async () => {
    const r = await runCli(['--config', bad.path], env());
    assert.notEqual(r.code, 0);
    assertNamesEveryBadPath(r.stderr);
    assert.doesNotMatch(r.stdout, /"msg":"listening"/);
  });

  it('--config=FILE: refuses to start', async () => {
    const r = await runCli([`--config=${bad.path}`], env());
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /gateway\.maxConnections: /);
  });

  it('$STRATIX_CONFIG: refuses to start', async () => {
    const r = await runCli([], env({ STRATIX_CONFIG: bad.path }));
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /routes\[0\]\.openclawGateway: /);
  });

  it('a missing file: refuses to start with a clear error', async () => {
    const missing = join(bad.dir, 'no-such.json');
    const r = await runCli(['--config', missing], env());
    assert.notEqual(r.code, 0);
    assert.ok(r.stderr.includes(missing), r.stderr);
    assert.match(r.stderr, /cannot read/);
  });
});
