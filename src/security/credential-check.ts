/**
 * At start, before any worker exists: every key, secret and certificate file the
 * config names is read and checked once, so a bad one stops the gateway with a
 * ConfigError naming the setting instead of failing in each worker.
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { Config } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import { loadHmacKeyring } from './key-files.js';
import { serverTlsOptions } from './tls-listener.js';

export async function checkCredentialFiles(config: Config, source = '<config>'): Promise<void> {
  const issues: string[] = [];
  const attempt = async (path: string, fn: () => unknown): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      issues.push(`${path}: ${(err as Error).message}`);
    }
  };
  const a = config.auth;
  if (a.mode === 'hmac') await attempt('auth.hmac.keysDir', () => loadHmacKeyring(a.hmac!.keysDir));
  if (a.mode === 'jwt') {
    const { loadJwtKeyFiles } = await import('./jwt-authenticator.js');
    await attempt('auth.jwt.keyFiles', () => loadJwtKeyFiles(a.jwt!.keyFiles));
  }
  const server = config.tls.server;
  if (server !== undefined) await attempt('tls.server', () => createSecureContext(serverTlsOptions(server)));
  const up = config.tls.upstream;
  if (up.caFile !== undefined) await attempt('tls.upstream.caFile', () => createSecureContext({ ca: readFileSync(up.caFile!) }));
  if (up.certFile !== undefined) await attempt('tls.upstream.certFile', () => createSecureContext({ cert: readFileSync(up.certFile!), key: readFileSync(up.keyFile!) }));
  if (issues.length > 0) throw new ConfigError(source, issues);
}
