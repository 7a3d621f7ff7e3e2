/**
 * Reading secrets and keys from files: the HMAC keys directory (one file per key,
 * named for its kid) and single secret files (the admin token, HS256 keys, the
 * signer's --secret-file). A secret is the file's bytes less trailing whitespace
 * (so `echo "$SECRET" > file` works). Problems are reported as lines naming the
 * file, for a ConfigError at start or a log line on a reload.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KID_PATTERN } from './handshake-signature.js';

export const MIN_SECRET_BYTES = 32;

/** A read failure or a bad key, as a line naming the file. */
export class KeyFileError extends Error {}

/** The file's bytes less trailing whitespace (CR, LF, space, tab). */
export function readSecretFile(path: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new KeyFileError(`${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d || bytes[end - 1] === 0x20 || bytes[end - 1] === 0x09)) end--;
  return bytes.subarray(0, end);
}

export function readSecret(path: string, minBytes = MIN_SECRET_BYTES): Buffer {
  const secret = readSecretFile(path);
  if (secret.length < minBytes) throw new KeyFileError(`${path}: the secret must be at least ${minBytes} bytes (has ${secret.length})`);
  return secret;
}

/** The active HMAC keys: kid → secret. Frozen once loaded; a reload builds a new one. */
export type HmacKeyring = ReadonlyMap<string, Buffer>;

/**
 * Loads every key in `dir`: each regular file (or link to one) whose name does not
 * start with a dot is a key named for the file. Throws KeyFileError listing every
 * problem; an empty directory is a problem too (nobody could connect).
 */
export function loadHmacKeyring(dir: string): HmacKeyring {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => !n.startsWith('.')).sort();
  } catch (err) {
    throw new KeyFileError(`${dir}: cannot read the keys directory: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const keys = new Map<string, Buffer>();
  const problems: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    try {
      if (!statSync(path).isFile()) continue;
      if (!KID_PATTERN.test(name)) throw new KeyFileError(`${path}: a key file's name is its kid: 1-64 characters of [A-Za-z0-9._-]`);
      keys.set(name, readSecret(path));
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  if (problems.length === 0 && keys.size === 0) problems.push(`${dir}: no key files`);
  if (problems.length > 0) throw new KeyFileError(problems.join('; '));
  return keys;
}
