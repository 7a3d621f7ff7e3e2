/**
 * The native addon inside the single executable (scripts/build-sea.mjs embeds
 * native/relay/build/stratix_relay.node as the asset EMBEDDED_ADDON). A node:sea asset
 * is memory, and dlopen needs a file: the bytes are written to a private temporary
 * directory (mode 0700, the file 0500), loaded, and the directory removed at once. The
 * loaded library stays mapped after its file is gone, so nothing is left on disk for a
 * running gateway, and a crash leaves at most that one directory behind.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The asset's name in the executable. */
export const EMBEDDED_ADDON = 'native/stratix_relay.node';

/** dlopen `bytes` as a shared library into `mod` (process.dlopen's module object), by way of a temporary file. */
export function dlopenBytes(mod: { exports: unknown }, bytes: Buffer, flags: number, dir: string = tmpdir()): void {
  const private_ = mkdtempSync(join(dir, 'stratix-relay-'));
  try {
    const file = join(private_, 'stratix_relay.node');
    writeFileSync(file, bytes, { mode: 0o500 });
    process.dlopen(mod, file, flags);
  } finally {
    rmSync(private_, { recursive: true, force: true });
  }
}
