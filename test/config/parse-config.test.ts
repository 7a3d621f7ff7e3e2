/**
 * Config validation at the boundary: the seed's config loads unchanged, unknown
 * keys and bad values are refused with the path of the setting, every problem
 * is reported at once, and file errors (missing, not JSON) are clear.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadConfigFile, parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { writeTempConfig } from '../helpers/cli.js';

/** The example from the seed README (config/route.json), verbatim. */
const SEED_CONFIG = {
  gateway: { listen: ':8080', maxConnections: 100000 },
  routes: [{ clientIdPrefix: 'client-1-1000', openclawGateway: 'ws://gateway1.example.com:8080/ws' }],
};

const REPO_ROUTE_JSON = fileURLToPath(new URL('../../../config/route.json', import.meta.url));

/** The issues of the ConfigError that `fn` throws. */
function issuesOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'STRATIX_ERR_CONFIG');
    return err.issues;
  }
  assert.fail('expected the config to be refused');
}

function assertIssueAt(issues: readonly string[], path: string): void {
  assert.ok(
    issues.some((i) => i.startsWith(`${path}: `)),
    `expected an issue for ${path}, got:\n  ${issues.join('\n  ')}`,
  );
}

describe('parseConfig', () => {
  it("loads the seed README's example config unchanged", () => {
    const config = parseConfig(structuredClone(SEED_CONFIG));
    assert.equal(config.gateway.listen, ':8080');
    assert.equal(config.gateway.maxConnections, 100000);
    assert.equal(config.routes.length, 1);
    assert.equal(config.routes[0]!.clientIdPrefix, 'client-1-1000');
    assert.equal(config.routes[0]!.openclawGateway, 'ws://gateway1.example.com:8080/ws');
    assert.equal(config.defaultRoute, undefined);
  });

  it('fills safe defaults and returns a deeply frozen config', () => {
    const config = parseConfig({});
    assert.equal(config.gateway.listen, ':8080');
    assert.equal(config.gateway.workers, 'auto');
    assert.ok(config.gateway.handshakeTimeoutMs > 0);
    assert.ok(config.gateway.maxHeaderBytes >= 1024);
    assert.deepEqual(config.routes, []);
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.gateway));
    assert.ok(Object.isFrozen(config.routes));
  });

  it('loads the default config file, config/route.json', () => {
    const config = loadConfigFile(REPO_ROUTE_JSON);
    assert.ok(config.routes.length >= 1);
    assert.equal(config.gateway.maxConnections, 100000);
  });

  it('rejects unknown keys with the path of the setting', () => {
    assert.deepEqual(issuesOf(() => parseConfig({ gateway: { foo: 1 } })), ['gateway.foo: unknown setting']);
    assert.deepEqual(
      issuesOf(() => parseConfig({ routes: [{ clientIdPrefix: 'a', openclawGateway: 'ws://127.0.0.1:1/', bogus: true }] })),
      ['routes[0].bogus: unknown setting'],
    );
    assert.deepEqual(issuesOf(() => parseConfig({ colour: 'blue' })), ['colour: unknown setting']);
    assert.deepEqual(
      issuesOf(() => parseConfig({ defaultRoute: { openclawGateway: 'ws://127.0.0.1:1/', weight: 2 } })),
      ['defaultRoute.weight: unknown setting'],
    );
    assert.deepEqual(issuesOf(() => parseConfig({ upstream: { retries: 3 } })), ['upstream.retries: unknown setting']);
  });

  it('names the setting of a bad gateway.maxConnections', () => {
    for (const bad of [0, -1, 1.5, 'many', null]) {
      assertIssueAt(issuesOf(() => parseConfig({ gateway: { maxConnections: bad } })), 'gateway.maxConnections');
    }
  });

  it('names the setting of a bad gateway.listen', () => {
    for (const bad of ['abc', ':99999', 'host:', '', 8080, '127.0.0.1:80:80']) {
      assertIssueAt(issuesOf(() => parseConfig({ gateway: { listen: bad } })), 'gateway.listen');
    }
    for (const good of [':8080', '8080', '127.0.0.1:0', '[::1]:8080', 'localhost:65535']) {
      assert.equal(parseConfig({ gateway: { listen: good } }).gateway.listen, good);
    }
  });

  it('names the route whose openclawGateway is not a ws:// or wss:// URL', () => {
    for (const bad of ['http://gw.example.com/ws', 'gw.example.com:8080', '', 42]) {
      const issues = issuesOf(() =>
        parseConfig({
          routes: [
            { clientIdPrefix: 'a', openclawGateway: 'ws://127.0.0.1:1/' },
            { clientIdPrefix: 'b', openclawGateway: bad },
          ],
        }),
      );
      assertIssueAt(issues, 'routes[1].openclawGateway');
      assert.ok(!issues.some((i) => i.startsWith('routes[0]')), issues.join('\n'));
    }
    assert.equal(parseConfig({ routes: [{ clientIdPrefix: 'a', openclawGateway: 'wss://gw.example.com/ws' }] }).routes.length, 1);
    assertIssueAt(issuesOf(() => parseConfig({ defaultRoute: { openclawGateway: 'ftp://x/' } })), 'defaultRoute.openclawGateway');
  });

  it('names other bad values by path', () => {
    assertIssueAt(issuesOf(() => parseConfig({ gateway: { workers: 0 } })), 'gateway.workers');
    assertIssueAt(issuesOf(() => parseConfig({ gateway: { handshakeTimeoutMs: '10s' } })), 'gateway.handshakeTimeoutMs');
    assertIssueAt(issuesOf(() => parseConfig({ routes: {} })), 'routes');
    assertIssueAt(issuesOf(() => parseConfig({ routes: [{ clientIdPrefix: 'a b', openclawGateway: 'ws://127.0.0.1:1/' }] })), 'routes[0].clientIdPrefix');
    assertIssueAt(issuesOf(() => parseConfig({ log: { level: 'loud' } })), 'log.level');
  });

  it('reports every bad setting at once', () => {
    const issues = issuesOf(() =>
      parseConfig({
        gateway: { listen: 'nowhere', maxConnections: 0, foo: 1 },
        routes: [{ clientIdPrefix: 'client-', openclawGateway: 'http://x/', bogus: 1 }],
      }),
    );
    for (const path of ['gateway.listen', 'gateway.maxConnections', 'gateway.foo', 'routes[0].openclawGateway', 'routes[0].bogus']) {
      assertIssueAt(issues, path);
    }
  });

  it('the error message names the source and lists each issue', () => {
    try {
      parseConfig({ gateway: { foo: 1 } }, 'my-config.json');
      assert.fail('expected a ConfigError');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /my-config\.json/);
      assert.match(err.message, /gateway\.foo: unknown setting/);
    }
  });
});

describe('loadConfigFile', () => {
  it('reads and validates a file', () => {
    const tmp = writeTempConfig(SEED_CONFIG);
    try {
      assert.equal(loadConfigFile(tmp.path).gateway.listen, ':8080');
    } finally {
      tmp.cleanup();
    }
  });

  it('a missing file is a clear ConfigError naming the file', () => {
    const path = '/nonexistent/stratix/route.json';
    const issues = issuesOf(() => loadConfigFile(path));
    assert.match(issues.join('\n'), /cannot read.*ENOENT/);
    assert.throws(() => loadConfigFile(path), (err: Error) => err.message.includes(path));
  });

  it('invalid JSON is a clear ConfigError', () => {
    const tmp = writeTempConfig({});
    try {
      writeFileSync(tmp.path, '{"gateway": {"listen": ":8080",}');
      const issues = issuesOf(() => loadConfigFile(tmp.path));
      assert.match(issues.join('\n'), /not valid JSON/);
    } finally {
      tmp.cleanup();
    }
  });
});
