#!/usr/bin/env node
/**
 * Builds the native data path's addon (native/relay/build.sh): part of `npm run
 * build` (so of `npm install` and `npm ci`, through prepare) and of `npm test`.
 *
 * Without a C compiler, or off Linux, the build is skipped with a note: the gateway
 * runs on its JS path there (relay.dataPath "auto"; "native" refuses to start).
 * `--required` (scripts/test.mjs) makes a skipped or failed build an error, so the
 * native suites always run on CI (scripts/install-native-build.sh installs gcc and
 * liburing first).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const required = process.argv.includes('--required');

function skip(why) {
  const note = `build-native: ${why}; the native data path is not built (relay.dataPath "auto" uses the JS path)`;
  if (required) {
    console.error(note);
    process.exit(1);
  }
  console.log(note);
  process.exit(0);
}

if (process.platform !== 'linux') skip(`not Linux (${process.platform})`);
const cc = process.env.CC ?? 'gcc';
if (spawnSync(cc, ['--version'], { stdio: 'ignore' }).status !== 0) skip(`no C compiler (${cc})`);
const r = spawnSync('bash', ['native/relay/build.sh'], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) skip('native/relay/build.sh failed');
