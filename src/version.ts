/**
 * The gateway's version: package.json's, read once. The one-file bundle (and so the
 * single executable) has no package.json beside it: the bundler writes the version in.
 */
import { readFileSync } from 'node:fs';

/** Set by the bundler (scripts/build-sea.mjs). */
declare const __STRATIX_VERSION__: string | undefined;

let version: string | undefined;

export function gatewayVersion(): string {
  if (version === undefined) {
    if (typeof __STRATIX_VERSION__ === 'string') version = __STRATIX_VERSION__;
    else version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  }
  return version;
}
