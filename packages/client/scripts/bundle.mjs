#!/usr/bin/env node
/**
 * The browser build: one ES module file (dist/browser/stratix-client.js, minified,
 * with a source map) for pages that load the SDK without a bundler
 * (`<script type="module">import { StratixClient } from './stratix-client.js'`).
 * Built from the compiled dist/index.js, so it is exactly the published code.
 */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
await build({
  absWorkingDir: root,
  entryPoints: ['dist/index.js'],
  outfile: 'dist/browser/stratix-client.js',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
});
