/**
 * The settings of who may connect and how much (docs/security.md): `auth`
 * (signed handshakes, JWT, the Origin allow-list), `admission` (token-bucket
 * limits from the socket to the upstream, the duplicate-clientId policy) and `tls`
 * (the listener's certificate, the upstreams' CA bundle and client certificate).
 * Part of configSchema (schema.ts); durations in ms, sizes in bytes.
 */
import { isIP } from 'node:net';
import { z } from 'zod';

const ms = (min: number, max: number) => z.int().min(min).max(max);
const path = z.string().min(1).max(4_096);

/** `"10.0.0.1"`, `"::1"`, `"10.0.0.0/8"`, `"fd00::/8"`. */
export const addressOrCidr = z.string().refine((s) => {
  const [addr, bits, extra] = s.split('/');
  const family = isIP(addr ?? '');
  if (family === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d{1,3}$/.test(bits) && n <= (family === 4 ? 32 : 128);
}, 'expected an IP address or a CIDR block, e.g. "10.0.0.1" or "10.0.0.0/8"');

export const hmacAuthSchema = z.strictObject({
  /**
   * Directory of the active keys: every file is one key, its name is the `kid`
   * (`[A-Za-z0-9._-]`, 1-64 characters, not starting with a dot; dot files are
   * ignored, so Kubernetes' `..data` links and editors' temporary files are skipped);
   * its content, less trailing whitespace, is the secret (at least 32 bytes).
   */
  keysDir: path,
  /** `ts` may differ from the gateway's clock by this much either way. */
  maxSkewMs: ms(1_000, 3_600_000).default(60_000),
  /** Nonces remembered per instance (split between workers). When full, new handshakes get 503. */
  nonceCacheEntries: z.int().min(1_000).max(100_000_000).default(1_000_000),
  /** Reload the keys when a file in keysDir changes (SIGHUP always reloads). */
  watch: z.boolean().default(true),
});

export const JWT_ALGORITHMS = ['HS256', 'RS256', 'ES256', 'EdDSA'] as const;

export const jwtKeyFileSchema = z.strictObject({
  /** PEM public key (SPKI) or certificate for RS256/ES256/EdDSA; the raw secret (less trailing whitespace, 32+ bytes) for HS256. */
  file: path,
  alg: z.enum(JWT_ALGORITHMS),
  /** When set, the key only verifies tokens whose header names this `kid`. */
  kid: z.string().min(1).max(256).optional(),
});

const httpUrl = z.string().refine((s) => {
  try {
    const u = new URL(s);
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.hash === '';
  } catch {
    return false;
  }
}, 'expected an http:// or https:// URL');

export const jwksSchema = z.strictObject({
  url: httpUrl,
  /** The key set is fetched again this often. */
  refreshIntervalMs: ms(1_000, 86_400_000).default(300_000),
  /** A token with an unknown `kid` triggers a fetch, at most once per this period. */
  cooldownMs: ms(0, 3_600_000).default(30_000),
  /** Deadline of one fetch. */
  timeoutMs: ms(100, 120_000).default(5_000),
  /** While the endpoint is down, the last good key set keeps verifying this long after it was fetched. */
  maxStaleMs: ms(1_000, 30 * 86_400_000).default(86_400_000),
});

export const jwtAuthSchema = z.strictObject({
  algorithms: z.array(z.enum(JWT_ALGORITHMS)).min(1).max(4),
  keyFiles: z.array(jwtKeyFileSchema).max(64).default([]),
  jwks: jwksSchema.optional(),
  /** Required `iss` (one of). */
  issuer: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  /** Required `aud` (one of). */
  audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  /** The claim that must equal the clientId. */
  clientIdClaim: z.string().min(1).max(256).default('sub'),
  /** Leeway for exp/nbf. */
  clockToleranceMs: ms(0, 600_000).default(30_000),
  /** Refuse tokens without `exp`. */
  requireExp: z.boolean().default(true),
  /** Reload keyFiles when one changes (SIGHUP always reloads). */
  watch: z.boolean().default(true),
});

/** `https://app.example.com`, `file://`, `app://stratix`, `null`. */
const origin = z.string().min(1).max(2_048).regex(/^(?:null|[a-z][a-z0-9+.-]*:\/\/[^\s/?#]*)$/, 'expected an origin like "https://app.example.com", "file://", "app://name" or "null" (lower-case scheme, no path)');

export const authSchema = z
  .strictObject({
    /** `none`: anyone may claim any clientId (the embedded default only). `hmac`: signed handshakes. `jwt`: bearer tokens. */
    mode: z.enum(['none', 'hmac', 'jwt']).default('none'),
    hmac: hmacAuthSchema.optional(),
    jwt: jwtAuthSchema.optional(),
    /**
     * Origins a browser client may connect from (exact match, after lower-casing the
     * scheme and host). Absent: any Origin. Electron pages loaded from disk send `file://`,
     * custom protocols `scheme://host`. Checked at the gateway; the upstream gets no Origin.
     */
    allowedOrigins: z.array(origin).max(1_000).optional(),
    /** With allowedOrigins: also admit requests without an Origin header (native clients, the OpenClaw CLI). */
    allowMissingOrigin: z.boolean().default(true),
  })
  .superRefine((a, ctx) => {
    if (a.mode === 'hmac' && a.hmac === undefined) ctx.addIssue({ code: 'custom', path: ['hmac'], message: 'required when auth.mode is "hmac"' });
    if (a.mode === 'jwt') {
      if (a.jwt === undefined) {
        ctx.addIssue({ code: 'custom', path: ['jwt'], message: 'required when auth.mode is "jwt"' });
        return;
      }
      if (a.jwt.keyFiles.length === 0 && a.jwt.jwks === undefined) ctx.addIssue({ code: 'custom', path: ['jwt', 'keyFiles'], message: 'needs at least one key file, or auth.jwt.jwks' });
      a.jwt.keyFiles.forEach((k, i) => {
        if (!a.jwt!.algorithms.includes(k.alg)) ctx.addIssue({ code: 'custom', path: ['jwt', 'keyFiles', i, 'alg'], message: 'not in auth.jwt.algorithms' });
      });
      if (a.jwt.jwks !== undefined && a.jwt.algorithms.every((x) => x === 'HS256')) {
        ctx.addIssue({ code: 'custom', path: ['jwt', 'jwks'], message: 'a JWKS holds public keys: add RS256, ES256 or EdDSA to auth.jwt.algorithms' });
      }
    }
  });

/** 0 switches a limit off. */
const rate = z.number().min(0).max(10_000_000);
const count = z.int().min(0).max(100_000_000);

export const admissionSchema = z.strictObject({
  /** The whole instance (enforced by the primary): over it, 503 STRATIX_ERR_ADMISSION_LIMITED with a Retry-After spread over the backlog. */
  instance: z
    .strictObject({
      handshakesPerSecond: rate.default(5_000),
      handshakeBurst: z.int().min(1).max(10_000_000).default(10_000),
      /** The largest Retry-After (seconds) given to refused clients. */
      retryAfterMaxSeconds: z.int().min(1).max(3_600).default(60),
      /**
       * Handshakes handed to the workers that they have not yet taken (split between
       * workers); past it, 503 OVERLOADED at once rather than a queue. 0 = no bound.
       */
      maxQueuedHandshakes: count.default(1_000),
    })
    .prefault({}),
  /** Per source address (the client's, or the one a trusted proxy names), enforced by the primary before the hand-off. */
  source: z
    .strictObject({
      handshakesPerSecond: rate.default(2_000),
      handshakeBurst: z.int().min(1).max(10_000_000).default(10_000),
      /** Open connections per source address. */
      maxConnections: count.default(25_000),
      /** Source addresses tracked for the handshake rate. */
      maxTracked: z.int().min(1).max(10_000_000).default(100_000),
    })
    .prefault({}),
  /** Per clientId (in the worker that owns it): a client in a reconnect loop is slowed (429). */
  clientId: z
    .strictObject({
      handshakesPerSecond: rate.default(2),
      handshakeBurst: z.int().min(1).max(1_000_000).default(20),
      maxTracked: z.int().min(1).max(10_000_000).default(200_000),
    })
    .prefault({}),
  /** Per upstream URL, per instance (split between workers), before the upstream connect. */
  upstream: z
    .strictObject({
      /** Connects in flight to one upstream; more wait (counted against upstream.connectTimeoutMs). */
      maxConcurrentConnects: count.default(64),
      connectsPerSecond: rate.default(200),
      connectBurst: z.int().min(1).max(10_000_000).default(200),
      /** Connects waiting for one upstream; past it, 503 STRATIX_ERR_UPSTREAM_BUSY at the handshake. */
      maxWaiting: z.int().min(1).max(10_000_000).default(5_000),
    })
    .prefault({}),
  /**
   * Per connection, each way (client → upstream, upstream → client): over a rate, that
   * side is not read until the budget refills (TCP backpressure reaches the sender);
   * a connection kept paused without a break for pausedTimeoutMs is closed with 4429.
   * 0 = no limit (the default).
   */
  client: z
    .strictObject({
      messagesPerSecond: rate.default(0),
      /** Messages after a quiet spell; 0 = one second's worth. */
      messageBurst: count.default(0),
      bytesPerSecond: rate.default(0),
      /** Bytes after a quiet spell; 0 = one second's worth. */
      byteBurst: count.default(0),
      pausedTimeoutMs: z.int().min(1_000).max(3_600_000).default(60_000),
    })
    .prefault({}),
  /**
   * Two connections with one clientId on an instance: `takeover` (the new one wins, the
   * old gets 4410 TAKEN_OVER), `reject` (the new one gets 409 / 4409), `allow` (both live).
   */
  duplicateClientId: z.enum(['takeover', 'reject', 'allow']).default('takeover'),
});

const tlsVersion = z.enum(['TLSv1.2', 'TLSv1.3']);

export const tlsSchema = z.strictObject({
  /** Serve wss:// on gateway.listen (the primary terminates TLS; nginx in front is the recommended termination). */
  server: z
    .strictObject({
      certFile: path,
      keyFile: path,
      /** Ask clients for a certificate signed by this CA bundle (mutual TLS); clients without one are refused. */
      clientCaFile: path.optional(),
      minVersion: tlsVersion.default('TLSv1.2'),
      /** Reload certFile/keyFile when they change (SIGHUP always reloads); open sessions keep their connection. */
      watch: z.boolean().default(true),
    })
    .optional(),
  /** For wss:// upstreams. */
  upstream: z
    .strictObject({
      /** PEM CA bundle the upstream's certificate must chain to (default: Node's bundled roots). */
      caFile: path.optional(),
      /** Client certificate and key for upstreams that require one. */
      certFile: path.optional(),
      keyFile: path.optional(),
      /** SNI and the name checked in the certificate (default: the URL's host; none for IP literals). */
      servername: z.string().min(1).max(253).optional(),
      minVersion: tlsVersion.default('TLSv1.2'),
    })
    .refine((u) => (u.certFile === undefined) === (u.keyFile === undefined), { message: 'certFile and keyFile go together', path: ['certFile'] })
    .prefault({}),
});

export type AuthConfig = z.infer<typeof authSchema>;
export type AdmissionConfig = z.infer<typeof admissionSchema>;
export type TlsConfig = z.infer<typeof tlsSchema>;
export type DuplicatePolicy = AdmissionConfig['duplicateClientId'];
