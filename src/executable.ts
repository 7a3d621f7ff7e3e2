/**
 * How this process was started: from the compiled tree (`node dist/src/cli/main.js`, the
 * bin, `npm start`), from the one-file bundle (`node dist/sea/stratix-gateway.cjs`), or as
 * the single executable (`dist/stratix-gateway`, a Node SEA with the bundle inside). The
 * bundle and the executable have no worker file: they start themselves again with
 * WORKER_FLAG as their first argument.
 */
import { createRequire } from 'node:module';

/** Set by the bundler (scripts/build-sea.mjs) in the one-file bundle only. */
declare const __STRATIX_BUNDLE__: boolean | undefined;

/** First argument that makes the bundle or the executable run as a worker. */
export const WORKER_FLAG = '--stratix-worker';

export function isBundle(): boolean {
  return typeof __STRATIX_BUNDLE__ === 'boolean' && __STRATIX_BUNDLE__;
}

let sea: boolean | undefined;

/** Running as the single executable (node:sea's isSea; false where Node has none). */
export function isSingleExecutable(): boolean {
  if (sea === undefined) {
    try {
      const mod = createRequire(import.meta.url)('node:sea') as { isSea?: () => boolean };
      sea = mod.isSea?.() === true;
    } catch {
      sea = false;
    }
  }
  return sea;
}

/** A file embedded in the executable (node:sea getAsset), or undefined outside it. */
export function embeddedAsset(name: string): Buffer | undefined {
  if (!isSingleExecutable()) return undefined;
  const mod = createRequire(import.meta.url)('node:sea') as { getAsset(key: string): ArrayBuffer };
  try {
    return Buffer.from(mod.getAsset(name));
  } catch {
    return undefined;
  }
}
