/**
 * The dashboard's files: dashboard/ of the project and uPlot from node_modules, read from
 * disk once; inside the single executable they are its assets (node:sea getAsset, put
 * there by scripts/build-sea.mjs under the same names). Nothing is fetched from anywhere
 * else at run time.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { embeddedAsset, isSingleExecutable } from '../executable.js';

export interface Asset {
  readonly body: Buffer;
  readonly contentType: string;
}

/** URL path under /admin/ui → asset name, content type. */
const FILES: ReadonlyMap<string, { name: string; contentType: string }> = new Map([
  ['', { name: 'dashboard/index.html', contentType: 'text/html; charset=utf-8' }],
  ['/', { name: 'dashboard/index.html', contentType: 'text/html; charset=utf-8' }],
  ['/app.js', { name: 'dashboard/app.js', contentType: 'text/javascript; charset=utf-8' }],
  ['/app.css', { name: 'dashboard/app.css', contentType: 'text/css; charset=utf-8' }],
  ['/uPlot.iife.min.js', { name: 'dashboard/uPlot.iife.min.js', contentType: 'text/javascript; charset=utf-8' }],
  ['/uPlot.min.css', { name: 'dashboard/uPlot.min.css', contentType: 'text/css; charset=utf-8' }],
]);

const cache = new Map<string, Asset | null>();

/** The file for `/admin/ui{rest}`, or undefined when there is none. */
export function dashboardAsset(rest: string): Asset | undefined {
  const file = FILES.get(rest);
  if (file === undefined) return undefined;
  let asset = cache.get(file.name);
  if (asset === undefined) {
    const body = read(file.name);
    asset = body === undefined ? null : { body, contentType: file.contentType };
    cache.set(file.name, asset);
  }
  return asset ?? undefined;
}

function read(name: string): Buffer | undefined {
  if (isSingleExecutable()) return embeddedAsset(name);
  try {
    const base = name.slice('dashboard/'.length);
    if (base.startsWith('uPlot.')) {
      const require = createRequire(import.meta.url);
      return readFileSync(require.resolve(`uplot/dist/${base}`));
    }
    // dist/src/server/ → the project's dashboard/ (the bundle: dist/sea/ → ../../dashboard/).
    for (const rel of ['../../../dashboard/', '../../dashboard/']) {
      try {
        return readFileSync(new URL(rel + base, import.meta.url));
      } catch {
        // try the next
      }
    }
    return undefined;
  } catch {
    return undefined;
  }
}
