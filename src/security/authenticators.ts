/**
 * Builds the authenticator auth.mode asks for (none: no object, no cost).
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { AuthConfig } from '../config/security-schema.js';
import type { Authenticator } from './auth-refusal.js';
import { HmacAuthenticator } from './hmac-authenticator.js';

export interface AuthenticatorContext {
  readonly logger: Logger;
  readonly registry: Registry;
  /** Worker processes sharing the instance's nonce cache bound. */
  readonly workers: number;
}

export async function createAuthenticator(auth: AuthConfig, ctx: AuthenticatorContext): Promise<Authenticator | undefined> {
  if (auth.mode === 'hmac') {
    const h = auth.hmac!;
    return new HmacAuthenticator({ config: h, nonceCacheEntries: Math.ceil(h.nonceCacheEntries / ctx.workers), logger: ctx.logger, registry: ctx.registry });
  }
  // jose is loaded only where JWTs are checked.
  if (auth.mode === 'jwt') return (await import('./jwt-authenticator.js')).JwtAuthenticator.create({ config: auth.jwt!, logger: ctx.logger, registry: ctx.registry });
  return undefined;
}
