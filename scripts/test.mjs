#!/usr/bin/env node
/**
 * `npm test`: builds, then runs every suite with node's test runner.
 *
 *   0. the build: the client SDK (packages/client: tsc, the browser bundle, its
 *      declarations checked as a consumer without DOM or Node types sees them, its
 *      own tests), then the gateway and its tests;
 *   1. unit and integration suites (dist/test/**\/*.test.js and the SDK's
 *      packages/client/dist-test/**\/*.test.js), in parallel files;
 *   2. the OpenClaw interop suite (dist/test/interop/*.interop.test.js), after
 *      installing Node 24 and openclaw into .cache/ (scripts/install-*.sh);
 *   3. suites that need a real program install it first, by the project's own scripts:
 *      etcd (scripts/install-etcd.sh), Chromium for test/dashboard/ and the
 *      *.chromium.test.js suites (install-chromium.sh), Prometheus and promtool for
 *      test/deploy/prometheus* (install-prometheus.sh), nginx for test/deploy/nginx*
 *      (install-bench-proxies.sh), systemd-analyze for test/sea/
 *      (install-systemd-analyze.sh);
 *   4. the real-Chromium suites of the client SDK (*.chromium.test.js), one file at a
 *      time, after the others;
 *   1-4 run on the native data path, the default (relay.dataPath "auto"): the suites'
 *      own gateways with STRATIX_TEST_DATA_PATH=native (test/helpers/gateway.ts), so a
 *      missing addon fails them rather than letting them pass on the JS path; the relay
 *      thread on io_uring;
 *   5. the relay (with abuse), conformance and interop suites a second time on the JS
 *      data path (STRATIX_TEST_DATA_PATH=js), and the conformance suites and the native
 *      data path's own suites (test/relay/native-data-path*) on the relay thread's epoll
 *      mode (STRATIX_NATIVE_IO_URING=0). The addon is built at step 0
 *      (scripts/install-native-build.sh installs gcc and liburing,
 *      scripts/build-native.mjs --required builds it).
 *
 * Usage: npm test [-- <file filter substring>...]
 * Runs under whatever `node` is first on PATH (CI runs it under Node 20, then 24).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const filters = process.argv.slice(2);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

// Every suite also reports its failures to a file (scripts/failure-reporter.mjs), printed
// again at the very end: the tail of a long log then names what failed.
const failureDir = mkdtempSync(join(tmpdir(), 'stratix-test-failures-'));
const defaultReporter = process.stdout.isTTY || Number(process.versions.node.split('.')[0]) >= 23 ? 'spec' : 'tap';
let suiteRuns = 0;
function nodeTest(concurrency, timeoutMs, files, env = process.env) {
  const failures = join(failureDir, `${++suiteRuns}.txt`);
  const reporters = [`--test-reporter=${defaultReporter}`, '--test-reporter-destination=stdout', `--test-reporter=${join(root, 'scripts/failure-reporter.mjs')}`, `--test-reporter-destination=${failures}`];
  return run(process.execPath, ['--test', `--test-concurrency=${concurrency}`, `--test-timeout=${timeoutMs}`, ...reporters, ...files], { env });
}

function printFailures() {
  const lines = readdirSync(failureDir)
    .sort((a, b) => parseInt(a) - parseInt(b))
    .map((f) => readFileSync(join(failureDir, f), 'utf8'))
    .join('');
  rmSync(failureDir, { recursive: true, force: true });
  if (lines.length > 0) console.log(`# failed tests (all suites of this run):\n${lines}`);
}

function find(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) find(p, out);
    else if (name.endsWith('.test.js')) out.push(relative(root, p));
  }
  return out.sort();
}

console.log(`# node ${process.version} (${process.execPath})`);
const tsc = join(root, 'node_modules/typescript/bin/tsc');
const build = [
  [tsc, '-p', 'packages/client/tsconfig.json'],
  ['packages/client/scripts/bundle.mjs'],
  [tsc, '-p', 'packages/client/test/types/tsconfig.json'],
  [tsc, '-p', 'packages/client/tsconfig.test.json'],
  [tsc, '-p', 'tsconfig.json'],
];
for (const args of build) {
  if (run(process.execPath, args) !== 0) {
    console.error(`# build failed: node ${args.join(' ')}`);
    process.exit(1);
  }
}
if (run('bash', ['scripts/install-native-build.sh']) !== 0 || run(process.execPath, ['scripts/build-native.mjs', '--required']) !== 0) {
  console.error('# could not build the native data path (native/relay/build.sh)');
  process.exit(1);
}

const all = [...find(join(root, 'dist/test')), ...find(join(root, 'packages/client/dist-test'))].filter(
  (f) => filters.length === 0 || filters.some((x) => f.includes(x)),
);
const interop = all.filter((f) => f.endsWith('.interop.test.js'));
const chromium = all.filter((f) => f.endsWith('.chromium.test.js'));
const needsEtcd = all.filter((f) => f.includes('/sources/') || f.includes('/routing-runtime/') || f.includes('/sea/'));
const main = all.filter((f) => !interop.includes(f) && !chromium.includes(f));

const installs = [
  ['etcd', 'scripts/install-etcd.sh', needsEtcd],
  ['Chromium', 'scripts/install-chromium.sh', all.filter((f) => f.includes('/dashboard/') || chromium.includes(f))],
  ['Prometheus', 'scripts/install-prometheus.sh', all.filter((f) => f.includes('/deploy/prometheus') || f.includes('/deploy/grafana'))],
  ['nginx', 'scripts/install-bench-proxies.sh', all.filter((f) => f.includes('/deploy/nginx'))],
  ['systemd-analyze', 'scripts/install-systemd-analyze.sh', all.filter((f) => f.includes('/deploy/systemd') || f.includes('/sea/'))],
];
for (const [what, script, files] of installs) {
  if (files.length > 0 && run('bash', [script]) !== 0) {
    console.error(`# could not install ${what}`);
    process.exit(1);
  }
}

// Steps 1-4 on the native data path: the suites' own gateways ask for "native" (a gateway
// that cannot load the addon fails instead of passing on the JS path); the CLI's start on
// its default, "auto".
const native = { ...process.env, STRATIX_TEST_DATA_PATH: 'native' };
let status = 0;
if (main.length > 0) {
  status |= nodeTest(2, 300_000, main, native);
}
if (interop.length > 0) {
  if (run('bash', ['scripts/install-node24.sh']) !== 0 || run('bash', ['scripts/install-openclaw.sh']) !== 0) {
    console.error('# could not install the OpenClaw interop prerequisites');
    process.exit(1);
  }
  status |= nodeTest(1, 600_000, interop, native);
}
if (chromium.length > 0) {
  status |= nodeTest(1, 300_000, chromium, native);
}
// Step 5: the same suites on the JS data path, and the relay thread's epoll mode.
const onPath = (path, files, extra = {}) => nodeTest(2, 600_000, files, { ...process.env, STRATIX_TEST_DATA_PATH: path, ...extra });
const relaySuites = main.filter((f) => f.includes('/test/relay/') && !f.includes('native-data-path'));
const conformance = main.filter((f) => f.includes('/test/conformance/'));
if (relaySuites.length > 0) {
  console.log('# again on the JS data path (relay.dataPath "js"): relay and abuse suites');
  status |= onPath('js', relaySuites);
}
if (conformance.length > 0) {
  console.log('# again on the JS data path: conformance suites');
  status |= onPath('js', conformance);
  console.log("# again on the relay thread's epoll mode: conformance suites");
  status |= onPath('native', conformance, { STRATIX_NATIVE_IO_URING: '0' });
}
// The native data path's own suite ran in step 1 on io_uring; the relay thread's epoll mode has code of its own.
const nativeOwn = main.filter((f) => f.includes('/test/relay/native-data-path'));
if (nativeOwn.length > 0) {
  console.log("# again on the relay thread's epoll mode: the native data path's own suites");
  status |= onPath('native', nativeOwn, { STRATIX_NATIVE_IO_URING: '0' });
}
if (interop.length > 0) {
  console.log('# again on the JS data path: interop suite');
  status |= nodeTest(1, 600_000, interop, { ...process.env, STRATIX_TEST_DATA_PATH: 'js' });
}
printFailures();
process.exit(status === 0 ? 0 : 1);
