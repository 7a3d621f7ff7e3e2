/**
 * Verifies bearer JWTs with `jose`: the algorithm is one of auth.jwt.algorithms,
 * the signature verifies with a key from auth.jwt.keyFiles or the JWKS, exp/nbf hold
 * (with clockToleranceMs), iss and aud match when configured, and the clientId claim
 * (`sub` by default) equals the clientId of the URL.
 *
 * The token comes from `Authorization: Bearer <jwt>` or, for browsers (which cannot
 * set headers on a WebSocket), the `token` query parameter; not both.
 */
import { errors, importSPKI, importX509, jwtVerify, type CryptoKey, type FlattenedJWSInput, type JWTHeaderParameters, type JWTVerifyGetKey, type KeyObject } from 'jose';
import type { Logger } from 'pino';
import { Counter, type Registry } from 'prom-client';
import type { AuthConfig } from '../config/security-schema.js';
import { AuthRefusal, type Authenticator, type Credentials } from './auth-refusal.js';
import { DirectoryWatch } from './file-watch.js';
import { JwksCache } from './jwks-cache.js';
import { KeyFileError, readSecret, readSecretFile } from './key-files.js';

type JwtConfig = NonNullable<AuthConfig['jwt']>;
type Key = CryptoKey | KeyObject | Uint8Array;

interface FileKey {
  readonly alg: string;
  readonly kid: string | undefined;
  readonly key: Key;
}

const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/; // an empty signature (alg "none") is malformed
const MAX_TOKEN_CHARS = 8_192;

/** Reads and imports every key file; throws KeyFileError listing the bad ones. */
export async function loadJwtKeyFiles(files: JwtConfig['keyFiles']): Promise<FileKey[]> {
  const out: FileKey[] = [];
  const problems: string[] = [];
  for (const f of files) {
    try {
      if (f.alg === 'HS256') {
        out.push({ alg: f.alg, kid: f.kid, key: new Uint8Array(readSecret(f.file)) });
        continue;
      }
      const pem = readSecretFile(f.file).toString('utf8');
      const key = pem.includes('BEGIN CERTIFICATE') ? await importX509(pem, f.alg) : await importSPKI(pem, f.alg);
      out.push({ alg: f.alg, kid: f.kid, key });
    } catch (err) {
      problems.push(err instanceof KeyFileError ? err.message : `${f.file}: not a usable ${f.alg} public key (PEM SPKI or certificate): ${(err as Error).message}`);
    }
  }
  if (problems.length > 0) throw new KeyFileError(problems.join('; '));
  return out;
}

export interface JwtAuthenticatorOptions {
  readonly config: JwtConfig;
  readonly logger: Logger;
  readonly registry: Registry;
}

export class JwtAuthenticator implements Authenticator {
  readonly #c: JwtConfig;
  readonly #logger: Logger;
  readonly #jwks: JwksCache | undefined;
  readonly #reloads: Counter<'result'>;
  readonly #watch: DirectoryWatch | undefined;
  #files: FileKey[] = [];

  private constructor(opts: JwtAuthenticatorOptions) {
    this.#c = opts.config;
    this.#logger = opts.logger;
    const j = opts.config.jwks;
    this.#jwks = j === undefined ? undefined : new JwksCache({ ...j, logger: opts.logger, registry: opts.registry });
    this.#reloads = new Counter({ name: 'stratix_auth_key_reloads_total', help: 'Reloads of auth key files, by result (ok, error: the old keys stay).', labelNames: ['result'], registers: [opts.registry] });
    const paths = opts.config.keyFiles.map((k) => k.file);
    this.#watch = opts.config.watch && paths.length > 0 ? new DirectoryWatch(paths, () => void this.reload(), opts.logger) : undefined;
  }

  /** Loads the key files (throws KeyFileError) and makes the first JWKS fetch (a failure there is tolerated). */
  static async create(opts: JwtAuthenticatorOptions): Promise<JwtAuthenticator> {
    const a = new JwtAuthenticator(opts);
    a.#files = await loadJwtKeyFiles(opts.config.keyFiles);
    await a.#jwks?.start();
    return a;
  }

  async verify(c: Credentials): Promise<AuthRefusal | undefined> {
    const token = bearer(c);
    if (token instanceof AuthRefusal) return token;
    let refusal = await this.#verify(token, c.clientId);
    // A key the set does not hold (rotation), or no usable set: fetch again (at most once per cooldownMs).
    const retry = refusal?.reason === 'unknown_kid' || refusal?.reason === 'keys_unavailable';
    if (retry && this.#jwks !== undefined && (await this.#jwks.refreshForUnknownKid())) {
      refusal = await this.#verify(token, c.clientId);
    }
    return refusal;
  }

  async #verify(token: string, clientId: string): Promise<AuthRefusal | undefined> {
    const jwks = this.#jwks?.keys();
    if (this.#jwks !== undefined && jwks === undefined && this.#files.length === 0) return new AuthRefusal('keys_unavailable');
    let payload: Record<string, unknown>;
    try {
      const r = await jwtVerify(token, this.#keyLookup(jwks), {
        algorithms: [...this.#c.algorithms],
        clockTolerance: this.#c.clockToleranceMs / 1000,
        ...(this.#c.issuer === undefined ? {} : { issuer: this.#c.issuer }),
        ...(this.#c.audience === undefined ? {} : { audience: this.#c.audience }),
        requiredClaims: this.#c.requireExp ? ['exp', this.#c.clientIdClaim] : [this.#c.clientIdClaim],
      });
      payload = r.payload;
    } catch (err) {
      return this.#refusalFor(err, jwks === undefined && this.#jwks !== undefined);
    }
    const claimed = payload[this.#c.clientIdClaim];
    if (claimed !== clientId) return new AuthRefusal('wrong_client', `the token's ${this.#c.clientIdClaim} is not this clientId`);
    return undefined;
  }

  /** File keys first (matching alg, and kid when the file names one), then the JWKS. */
  #keyLookup(jwks: JWTVerifyGetKey | undefined): (header: JWTHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey | Uint8Array> {
    const files = this.#files;
    return async (header, token) => {
      for (const f of files) if (f.alg === header.alg && (f.kid === undefined || f.kid === header.kid)) return f.key as CryptoKey | Uint8Array;
      if (jwks !== undefined) return (await jwks(header, token)) as CryptoKey | Uint8Array;
      throw new errors.JWKSNoMatchingKey();
    };
  }

  #refusalFor(err: unknown, jwksMissing: boolean): AuthRefusal {
    if (err instanceof errors.JWTExpired) return new AuthRefusal('expired', 'the token has expired (exp)');
    if (err instanceof errors.JWTClaimValidationFailed) {
      if (err.claim === 'nbf') return new AuthRefusal('expired', 'the token is not valid yet (nbf)');
      if (err.claim === 'iss') return new AuthRefusal('wrong_issuer', 'unexpected iss');
      if (err.claim === 'aud') return new AuthRefusal('wrong_audience', 'unexpected aud');
      return new AuthRefusal('bad_claims', `claim ${err.claim}: ${err.reason}`);
    }
    if (err instanceof errors.JWKSNoMatchingKey) return jwksMissing ? new AuthRefusal('keys_unavailable') : new AuthRefusal('unknown_kid', 'no key matches the token (alg, kid)');
    if (err instanceof errors.JWSSignatureVerificationFailed) return new AuthRefusal('bad_signature', 'the token signature does not verify');
    if (err instanceof errors.JOSEAlgNotAllowed) return new AuthRefusal('bad_claims', 'the token algorithm is not allowed');
    if (err instanceof errors.JOSEError) return new AuthRefusal('malformed', 'the token is not a valid JWS/JWT');
    this.#logger.warn({ err: (err as Error).message }, 'unexpected JWT verification error');
    return new AuthRefusal('malformed', 'the token could not be verified');
  }

  async reload(): Promise<void> {
    try {
      this.#files = await loadJwtKeyFiles(this.#c.keyFiles);
      this.#reloads.inc({ result: 'ok' });
      this.#logger.info({ keys: this.#files.length }, 'JWT key files loaded');
    } catch (err) {
      this.#reloads.inc({ result: 'error' });
      this.#logger.error({ err: (err as Error).message }, 'JWT key files not reloaded; the old keys stay');
    }
    void this.#jwks?.refresh();
  }

  close(): void {
    this.#watch?.close();
    this.#jwks?.close();
  }
}

/** The token from `Authorization: Bearer` or the `token` query parameter. */
function bearer(c: Credentials): string | AuthRefusal {
  const fromQuery = c.query.getAll('token');
  const header = c.authorization;
  if (header === undefined && fromQuery.length === 0) {
    return c.query.has('sig') ? new AuthRefusal('malformed', 'auth.mode is jwt: send a token; signed handshakes are not accepted') : new AuthRefusal('missing');
  }
  if (fromQuery.length > 1 || (header !== undefined && fromQuery.length > 0)) return new AuthRefusal('malformed', 'send the token once: Authorization: Bearer or the token query parameter');
  let token: string;
  if (header !== undefined) {
    const m = /^Bearer +(\S+)$/i.exec(header.trim());
    if (m === null) return new AuthRefusal('malformed', 'expected Authorization: Bearer <jwt>');
    token = m[1]!;
  } else {
    token = fromQuery[0]!;
  }
  if (token.length > MAX_TOKEN_CHARS || !JWS_COMPACT.test(token)) return new AuthRefusal('malformed', 'the token is not a compact JWS');
  return token;
}
