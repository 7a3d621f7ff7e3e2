#!/usr/bin/env node
/**
 * `npm run build:sea`: builds the single executable `dist/stratix-gateway`.
 *
 *   1. esbuild bundles the TypeScript sources (entry src/cli/sea-main.ts) into one
 *      CommonJS script, dist/sea/stratix-gateway.cjs (a single executable runs CommonJS).
 *      `bufferutil` becomes its pure-JavaScript fallback (a native addon cannot be loaded
 *      from inside the executable); the version and a "bundle" flag are written in.
 *   2. node --experimental-sea-config writes the blob: the script, the dashboard's files
 *      and the native data path's addon (as assets; src/relay/embedded-addon.ts) and the primary's V8 flags (`execArgv`, read by Node >= 22.19 / 24.6;
 *      older Nodes ignore it and the primary re-launches itself with them, see
 *      src/cluster/primary-flags.ts).
 *   3. a copy of the node binary gets the blob injected with postject.
 *
 * etcd3 reads its gRPC service definitions from .proto files next to its code at run
 * time; there is no such file beside an executable. They go in as assets, and the one
 * line of etcd3 that names their path is pointed at a directory the bundle provides:
 * inside the executable, the three files written to a private temporary directory the
 * first time etcd is used (removed at exit); for the bundle run by node, dist/sea/etcd-proto/.
 *
 * Options: --node PATH  build with another node binary (the executable is that Node:
 *                       e.g. .cache/node24/node_modules/.bin/node); default: this node.
 *          --out PATH   the executable (default dist/stratix-gateway).
 * Prints the executable's path and size.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const require = createRequire(import.meta.url);
const { values } = parseArgs({ options: { node: { type: 'string' }, out: { type: 'string' } } });
const node = realpathSync(values.node ?? process.execPath);
const out = resolve(root, values.out ?? 'dist/stratix-gateway');
const work = join(root, 'dist/sea');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** The primary's flags (src/cluster/primary-flags.ts PRIMARY_NODE_OPTIONS). */
const PRIMARY_NODE_OPTIONS = ['--max-semi-space-size=2'];

/** Files the dashboard serves (src/server/dashboard-assets.ts), by asset name. */
const ASSETS = {
  'dashboard/index.html': join(root, 'dashboard/index.html'),
  'dashboard/app.js': join(root, 'dashboard/app.js'),
  'dashboard/app.css': join(root, 'dashboard/app.css'),
  'dashboard/uPlot.iife.min.js': require.resolve('uplot/dist/uPlot.iife.min.js'),
  'dashboard/uPlot.min.css': require.resolve('uplot/dist/uPlot.min.css'),
};

const ETCD_PROTOS = ['rpc.proto', 'kv.proto', 'auth.proto'];
const etcdProtoDir = join(dirname(require.resolve('etcd3/package.json')), 'proto');
for (const f of ETCD_PROTOS) ASSETS[`etcd-proto/${f}`] = join(etcdProtoDir, f);

/**
 * The native data path's addon (src/relay/embedded-addon.ts): inside the executable, and
 * beside the bundle in dist/sea/. Without it (not built: no gcc) the executable runs
 * relay.dataPath "auto" on the JS path, and says so when it is built.
 */
const ADDON = join(root, 'native/relay/build/stratix_relay.node');
if (existsSync(ADDON)) ASSETS['native/stratix_relay.node'] = ADDON;
else console.warn(`build-sea: ${ADDON} is missing (node scripts/build-native.mjs builds it): the executable has no native data path`);

/** Where etcd3's connection-pool.js loads rpc.proto from (see the header). */
const ETCD_PROTO_DIR_FUNCTION = `function __stratixEtcdProtoDir() {
  const path = require('node:path'), fs = require('node:fs'), os = require('node:os');
  let sea;
  try { sea = require('node:sea'); } catch { sea = undefined; }
  if (sea === undefined || typeof sea.isSea !== 'function' || !sea.isSea()) return path.join(__dirname, 'etcd-proto');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratix-etcd-proto-'));
  for (const f of ${JSON.stringify(ETCD_PROTOS)}) fs.writeFileSync(path.join(dir, f), Buffer.from(sea.getAsset('etcd-proto/' + f)));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}`;

/** esbuild plugin: etcd3 loads its protos from __stratixEtcdProtoDir() instead of its own directory. */
const etcdProtos = {
  name: 'etcd-protos',
  setup(b) {
    b.onLoad({ filter: /etcd3[\\/]lib[\\/]connection-pool\.js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      const from = '`${__dirname}/../proto/rpc.proto`';
      if (!text.includes(from)) throw new Error(`etcd3 changed: ${args.path} no longer loads ${from}`);
      return { contents: text.replace(from, "require('node:path').join(__stratixEtcdProtoDir(), 'rpc.proto')"), loader: 'js' };
    });
  },
};

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root });
  if (r.status !== 0) {
    console.error(`build-sea: ${cmd} ${args.join(' ')} failed (${r.status ?? r.signal})`);
    process.exit(1);
  }
}

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const bundle = join(work, 'stratix-gateway.cjs');
const nodeVersion = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
const major = Number(/^v(\d+)/.exec(nodeVersion)?.[1] ?? 0);

await build({
  entryPoints: [join(root, 'src/cli/sea-main.ts')],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: `node${Math.max(20, major)}`,
  outfile: bundle,
  legalComments: 'none',
  // jsonc-parser's "main" is a UMD build whose require() calls esbuild cannot follow: take its ESM build.
  mainFields: ['module', 'main'],
  logLevel: 'warning',
  plugins: [etcdProtos],
  alias: { bufferutil: join(dirname(require.resolve('bufferutil/package.json')), 'fallback.js') },
  define: {
    __STRATIX_BUNDLE__: 'true',
    __STRATIX_VERSION__: JSON.stringify(pkg.version),
    'import.meta.url': '__stratix_import_meta_url',
  },
  banner: { js: `var __stratix_import_meta_url = require('node:url').pathToFileURL(__filename).href;\n${ETCD_PROTO_DIR_FUNCTION}` },
});
mkdirSync(join(work, 'etcd-proto'), { recursive: true });
for (const f of ETCD_PROTOS) copyFileSync(join(etcdProtoDir, f), join(work, 'etcd-proto', f));
if (existsSync(ADDON)) copyFileSync(ADDON, join(work, 'stratix_relay.node'));

const blob = join(work, 'stratix-gateway.blob');
const seaConfig = join(work, 'sea-config.json');
writeFileSync(
  seaConfig,
  JSON.stringify(
    { main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: false, useSnapshot: false, execArgv: PRIMARY_NODE_OPTIONS, assets: ASSETS },
    null,
    2,
  ),
);
run(node, ['--experimental-sea-config', seaConfig]);

mkdirSync(dirname(out), { recursive: true });
rmSync(out, { force: true });
copyFileSync(node, out);
chmodSync(out, 0o755);
run(process.execPath, [
  require.resolve('postject/dist/cli.js'),
  out,
  'NODE_SEA_BLOB',
  blob,
  '--sentinel-fuse',
  'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
]);
const size = statSync(out).size;
console.log(`${out}: ${(size / 2 ** 20).toFixed(1)} MiB (node ${nodeVersion}; bundle ${(statSync(bundle).size / 2 ** 20).toFixed(1)} MiB)`);
