// Starts an older Stratix build with the relay benchmark's config, for comparisons with the
// code before a feature (docs/benchmarks.md, "the verbatim path against the code before
// reliable sessions"). The harness writes sections an older schema refuses as unknown
// (admission, reliable, tls); this drops them and starts that build's CLI unchanged.
//   STRATIX_LEGACY_MAIN=/path/to/snapshot/dist/src/cli/main.js \
//   node dist/bench/relay/run.js --proxy stratix --stratix-main $PWD/bench/relay/legacy-config-main.mjs
// Workers are started by the snapshot's own primary (its argv[1] is this file again: the
// config it gets is then the rewritten one, which is left as it is).
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const main = process.env.STRATIX_LEGACY_MAIN;
if (main === undefined || main === '') throw new Error('STRATIX_LEGACY_MAIN: the older build\'s dist/src/cli/main.js');
const i = process.argv.indexOf('--config');
if (i > 0 && !process.argv[i + 1].endsWith('.legacy.json')) {
  const config = JSON.parse(readFileSync(process.argv[i + 1], 'utf8'));
  for (const key of ['admission', 'reliable', 'tls']) delete config[key];
  const out = `${process.argv[i + 1]}.legacy.json`;
  writeFileSync(out, JSON.stringify(config));
  process.argv[i + 1] = out;
}
await import(pathToFileURL(main).href);
