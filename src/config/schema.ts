/**
 * The configuration schema: the one place where every setting, its default and
 * its bounds are written down. `loadConfig` validates a file against it once, at
 * the boundary; everything past that point receives a frozen `Config`.
 *
 * Compatibility: the seed's `config/route.json` (`gateway.listen`,
 * `gateway.maxConnections`, `routes[].clientIdPrefix`, `routes[].openclawGateway`)
 * must load unchanged. Everything else is optional with a safe default.
 * Durations are milliseconds (`…Ms`), sizes are bytes (`…Bytes`).
 */
import { z } from 'zod';
import { defaultRouteSchema, routeRuleSchema } from './route-schema.js';
import { addressOrCidr, admissionSchema, authSchema, tlsSchema } from './security-schema.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** `":8080"`, `"8080"`, `"127.0.0.1:8080"`, `"[::1]:8080"`, `"localhost:8080"`. */
export const listenAddress = z
  .string()
  .regex(
    /^(?:(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)?:)?\d{1,5}$/,
    'expected "[host]:port", e.g. ":8080" or "127.0.0.1:8080"',
  )
  .refine((s) => {
    const port = Number(s.slice(s.lastIndexOf(':') + 1));
    return port >= 0 && port <= 65535;
  }, 'port must be between 0 and 65535');

const ms = (min: number, max: number) => z.int().min(min).max(max);
const bytes = (min: number, max: number) => z.int().min(min).max(max);

export const gatewaySchema = z.strictObject({
  /** Where clients connect. `":8080"` listens on every address. */
  listen: listenAddress.default(':8080'),
  /** Open client sessions allowed on this instance, summed over workers. Over it: HTTP 503. */
  maxConnections: z.int().min(1).max(10_000_000).default(100_000),
  /** Worker processes sharing the port; `"auto"` = one per core. */
  workers: z.union([z.literal('auto'), z.int().min(1).max(256)]).default('auto'),
  /** A client must finish its HTTP upgrade request within this time (slowloris guard). */
  handshakeTimeoutMs: ms(100, 120_000).default(10_000),
  /** Largest accepted upgrade request head (request line + headers). Over it: HTTP 431. */
  maxHeaderBytes: bytes(1 * KiB, 64 * KiB).default(16 * KiB),
  /** The gateway pings every client (and upstream) this often; a leg that missed the previous pong is dropped. */
  pingIntervalMs: ms(1_000, 600_000).default(25_000),
  /**
   * A close handshake must complete within this time: a close still owed by the other
   * side is then answered by the gateway, a leg that never answered ours is cut (at
   * twice it, everything left is cut).
   */
  closeTimeoutMs: ms(100, 120_000).default(10_000),
  /** On SIGTERM/SIGINT, client closes (1012) are spread at random over this period. */
  drainPeriodMs: ms(0, 3_600_000).default(30_000),
  /** After the drain period, sessions still closing get this long before the process exits anyway. */
  drainGraceMs: ms(0, 600_000).default(5_000),
  /**
   * Peers whose forwarding headers are believed (nginx in front): the client's address
   * is then taken from X-Forwarded-For (rightmost address not in this list), for the
   * per-source limits and the upstream's forwarding headers. Addresses or CIDR blocks.
   */
  trustedProxies: z.array(addressOrCidr).max(1_000).default([]),
  /**
   * The listening socket's accept queue (capped by the kernel's net.core.somaxconn).
   * Deep enough for a reconnect herd to wait for the primary, which answers it at once
   * (a 101 hand-off or a 503 with Retry-After), rather than for the clients' TCP
   * retries of dropped connection attempts (1, 3, 7, 15 … s): docs/security.md, "Overload".
   */
  listenBacklog: z.int().min(1).max(65_535).default(4_096),
  /**
   * Node/V8 flags for worker processes. The default caps V8's young generation at
   * 2 MiB semi-spaces: idle sessions then cost about half the RSS (docs/benchmarks.md).
   */
  workerNodeOptions: z.array(z.string().regex(/^--[a-z0-9-]+(=\S+)?$/, 'expected a flag like "--max-semi-space-size=2"')).max(32).default(['--max-semi-space-size=2']),
});

/** Upstream request headers the gateway writes itself (the upgrade and the framing). */
const GATEWAY_SET_HEADERS = new Set([
  'connection', 'upgrade', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol', 'sec-websocket-extensions',
  'sec-websocket-accept', 'content-length', 'transfer-encoding', 'keep-alive', 'te', 'trailer', 'proxy-connection',
]);

export const upstreamSchema = z.strictObject({
  /** TCP connect + WebSocket upgrade to the upstream must finish within this time (close 4522 otherwise). */
  connectTimeoutMs: ms(100, 120_000).default(10_000),
  /**
   * Forwarding headers sent upstream. `"none"` (default) is what OpenClaw accepts out of the box;
   * anything else requires `gateway.trustedProxies` on the OpenClaw side (see README).
   */
  forwardedHeaders: z.enum(['none', 'x-forwarded-for', 'forwarded']).default('none'),
  /** Pass the client's Origin header upstream. OpenClaw then requires `gateway.controlUi.allowedOrigins`. */
  forwardOrigin: z.boolean().default(false),
  /** Extra static headers sent on every upstream upgrade request. */
  headers: z
    .record(
      z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'invalid header name (an RFC 9110 token)'),
      z.string().max(8_192).regex(/^[\t\x20-\x7e\x80-\xff]*$/, 'invalid header value: CR, LF, NUL and other control or non-Latin-1 characters are not allowed'),
    )
    .superRefine((h, ctx) => {
      for (const name of Object.keys(h)) {
        if (GATEWAY_SET_HEADERS.has(name.toLowerCase())) ctx.addIssue({ code: 'custom', path: [name], message: 'set by the gateway itself; cannot be overridden' });
      }
    })
    .default({}),
});

export const limitsSchema = z.strictObject({
  /** Largest message relayed in either direction after the upstream is open (OpenClaw: 25 MiB). Over it: 1009. */
  maxMessageBytes: bytes(1 * KiB, 256 * MiB).default(25 * MiB),
  /** Largest client message accepted while the upstream is still connecting (OpenClaw pre-auth: 64 KiB). */
  preOpenMaxMessageBytes: bytes(1 * KiB, 256 * MiB).default(64 * KiB),
  /** Client messages queued while the upstream is connecting; past it, client reads pause. */
  preOpenQueueMessages: z.int().min(1).max(100_000).default(64),
  /** Bytes queued while the upstream is connecting; past it, client reads pause. */
  preOpenQueueBytes: bytes(1 * KiB, 256 * MiB).default(1 * MiB),
});

export const backpressureSchema = z.strictObject({
  /** When a leg's outgoing buffer exceeds this, reads on the other leg pause. */
  highWaterMarkBytes: bytes(16 * KiB, 1024 * MiB).default(1 * MiB),
  /** Paused reads resume once the outgoing buffer is at or below this. */
  lowWaterMarkBytes: bytes(0, 1024 * MiB).default(256 * KiB),
  /** A client whose outgoing buffer stays above the high-water mark this long is closed with 4408. */
  slowClientTimeoutMs: ms(1_000, 3_600_000).default(60_000),
});

export const logSchema = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export const demoSchema = z.strictObject({
  /** Start the bundled echo upstream (for the quick start; never in production). */
  enabled: z.boolean().default(false),
  listen: listenAddress.default('127.0.0.1:8081'),
});

/** An etcd client URL: `http://host:port` or `https://host:port`. */
const etcdEndpoint = z.string().regex(/^https?:\/\/[A-Za-z0-9.\-[\]:]+:\d{1,5}\/?$/, 'expected an etcd client URL like "http://127.0.0.1:2379"');

export const etcdSourceSchema = z.strictObject({
  /** etcd client URLs; the client balances over them. */
  endpoints: z.array(etcdEndpoint).min(1).max(32),
  /** Key prefix of the rules: one key per rule under it (docs/routing.md). */
  prefix: z.string().min(1).max(256).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces').default('/stratix/routes/'),
  /**
   * The local snapshot of the rules (JSON lines), written after changes; lets the gateway
   * start while etcd is down. Relative to the working directory. `null`: no snapshot.
   */
  snapshotPath: z.string().min(1).nullable().default('data/routes.snapshot'),
  /** Start from the snapshot when etcd vouches for it (cluster, revision, count), then watch from its revision; else read etcd in full. */
  warmStart: z.boolean().default(true),
  /** At start, how long etcd is tried (a status request) before falling back to the snapshot; not a bound on the load. */
  dialTimeoutMs: ms(100, 600_000).default(5_000),
  /** Deadline of each etcd request (one page of the initial load). */
  requestTimeoutMs: ms(100, 600_000).default(10_000),
  /** Most keys one answer of a full load carries (read in windows of about half; docs/routing.md). */
  pageSize: z.int().min(100).max(1_000_000).default(50_000),
  /** A progress log line every this many keys during a full load. */
  progressEveryKeys: z.int().min(1_000).max(100_000_000).default(100_000),
  /** At most one snapshot write per this period after changes. */
  snapshotDebounceMs: ms(0, 3_600_000).default(2_000),
  /** Reconnect backoff after etcd is lost: first ceiling and cap (full jitter). */
  reconnectInitialMs: ms(10, 60_000).default(100),
  reconnectMaxMs: ms(100, 600_000).default(5_000),
  /** gRPC keepalive: a silently dead etcd connection is noticed within about 1.5x this. */
  keepaliveMs: ms(1_000, 600_000).default(10_000),
});

/** Where the route rules come from: this config file (`routes`, `defaultRoute`), or etcd. */
export const routeSourceSchema = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('file') }),
    z.strictObject({ type: z.literal('etcd'), etcd: etcdSourceSchema }),
  ])
  .default({ type: 'file' });

export const upstreamHealthSchema = z.strictObject({
  /** Consecutive failed connects to a pool member that take it out of its pools. */
  failuresToMarkDown: z.int().min(1).max(1_000).default(3),
  /** How long a member taken down by failures is skipped before it is tried again. */
  downCooldownMs: ms(0, 3_600_000).default(30_000),
  /** Most upstreams tracked per worker (failing members and operator marks); the oldest is dropped past it. */
  maxTracked: z.int().min(1).max(10_000_000).default(100_000),
});

export const routingSchema = z.strictObject({
  /**
   * What happens to live sessions whose route changed on a reload or an etcd change:
   * `keep` (stay on their upstream until they reconnect) or `migrate` (closed with
   * 4307 ROUTE_CHANGED, paced at migrateRatePerSecond, so they reconnect to the new one).
   */
  onRouteChange: z.enum(['keep', 'migrate']).default('keep'),
  /** With `migrate`: sessions closed per second per instance (split between workers), with jitter. */
  migrateRatePerSecond: z.int().min(1).max(1_000_000).default(100),
  /** Reload when the config file changes on disk. */
  watchConfigFile: z.boolean().default(true),
  /** File changes closer together than this are one reload. */
  watchDebounceMs: ms(0, 60_000).default(250),
  /** How long a reload waits for every worker to report the new table before answering. */
  convergeTimeoutMs: ms(1_000, 3_600_000).default(60_000),
  /** Pool member health (see docs/routing.md). */
  health: upstreamHealthSchema.prefault({}),
});

/** What an admin token must look like, wherever it comes from (admin.token, tokenFile, tokenEnv). */
export const adminToken = z.string().min(16, 'must be at least 16 characters').max(4_096).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces');

export const adminSchema = z.strictObject({
  /**
   * Bearer token for /admin/* (`Authorization: Bearer <token>`). Without it the admin
   * endpoints answer 403 STRATIX_ERR_ADMIN_DISABLED.
   */
  token: adminToken.optional(),
  /** Read the token from this file instead (trailing whitespace dropped); read at start and on reload. */
  tokenFile: z.string().min(1).max(4_096).optional(),
  /** Read the token from this environment variable instead (e.g. "STRATIX_ADMIN_TOKEN"). */
  tokenEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'expected an environment variable name').optional(),
  /** Serve /admin/* on this address instead of the main port (which then answers 404 for them). */
  listen: listenAddress.optional(),
});

export const reliableLogSchema = z.strictObject({
  /** Where reliable sessions' message logs live (created 0700; one directory per gateway process). Relative to the working directory. */
  dir: z.string().min(1).max(4_096).default('data/reliable'),
  /** What survives a power cut: `none` (the OS decides), `interval` (fdatasync every fsyncIntervalMs), `always` (before each send). */
  fsync: z.enum(['none', 'interval', 'always']).default('interval'),
  fsyncIntervalMs: ms(1, 60_000).default(1_000),
  /** A segment file is closed and a new one started at this size. */
  segmentBytes: bytes(1 * MiB, 1024 * MiB).default(64 * MiB),
  /** The instance's log may hold this much (split between workers); past it, sessions stop reading their upstreams. */
  maxBytes: z.int().min(16 * MiB).max(2 ** 50).default(8 * 1024 * MiB),
  /** A log that stays unwritable this long (e.g. a full disk) ends its sessions with 4507. */
  failureTimeoutMs: ms(1_000, 600_000).default(10_000),
});

export const reliableSchema = z.strictObject({
  /** How long a session waits for its client to come back after a disconnect. */
  resumeWindowMs: ms(1_000, 3_600_000).default(120_000),
  /** A connected client that got nothing for this long gets a HEARTBEAT envelope. */
  heartbeatMs: ms(1_000, 600_000).default(25_000),
  /** A stratix.v1 connection must send its HELLO within this time (close 4400 otherwise). */
  helloTimeoutMs: ms(100, 120_000).default(10_000),
  /** Per session: unacknowledged envelopes kept; at the bound the upstream is not read. */
  maxUnackedMessages: z.int().min(1).max(10_000_000).default(10_000),
  /** Per session: bytes of unacknowledged envelopes kept; at the bound the upstream is not read. */
  maxUnackedBytes: bytes(64 * KiB, 4096 * MiB).default(16 * MiB),
  /** Per instance (split between workers): unacknowledged envelopes of all sessions; at the bound upstreams are not read. */
  maxBufferedMessages: z.int().min(1_000).max(1_000_000_000).default(1_000_000),
  /** Per instance (split between workers): memory for copies of unacknowledged envelopes; past it they are read back from the log. */
  memoryBytes: z.int().min(1 * MiB).max(2 ** 46).default(256 * MiB),
  /**
   * An ACK (or NACK) with nothing else to go to its client waits at least this long,
   * and then until the next socket reads, for other frames to the same client, so
   * that they share one write; 0 sends each at once.
   */
  ackDelayMs: ms(0, 1_000).default(2),
  /** Per session: client messageIds (and outcomes) remembered for duplicate detection, each for resumeWindowMs. */
  duplicateWindowMessages: z.int().min(1).max(1_000_000).default(10_000),
  /** Upstream reconnects after a retryable close: capped exponential backoff with full jitter. */
  upstreamReconnect: z
    .strictObject({
      initialDelayMs: ms(10, 600_000).default(1_000),
      maxDelayMs: ms(10, 3_600_000).default(30_000),
      giveUpAfterMs: ms(1_000, 86_400_000).default(300_000),
    })
    .prefault({}),
  /** When an upstream's circuit breaker closes, the sessions waiting for it reconnect spread over this long. */
  breakerReleaseSpreadMs: ms(0, 600_000).default(2_000),
  log: reliableLogSchema.prefault({}),
});

export const relaySchema = z.strictObject({
  /**
   * Where verbatim sessions' data frames are relayed: `js` (net.Socket, in the worker's
   * JavaScript), `native` (a relay thread of the native addon, below net.Socket; the
   * process does not start without it: STRATIX_ERR_NATIVE_UNAVAILABLE) or `auto`
   * (native when the addon loads, else js). Control frames, closes, faults and
   * backpressure go through the JS path either way (docs/native-data-path.md).
   */
  dataPath: z.enum(['js', 'native', 'auto']).default('auto'),
  /**
   * The bound of the relay thread's io_uring receive pool, in 4 KiB buffers (4096: 16 MiB
   * per worker process; the pool grows to it with the traffic in flight). The relay thread
   * is process-wide and started once, by the first gateway that uses it: another gateway in
   * the same process that asks for a different bound does not start (docs/native-data-path.md).
   */
  nativeReceiveBuffers: z.int().min(2).max(4096).default(4096),
});

/** Why a config with routeSource etcd must not carry rules (shared with the streaming loader). */
export const ETCD_SOURCE_ROUTES_MESSAGE = 'must be empty when routeSource.type is "etcd" (the rules live in etcd; import them with `stratix-gateway routes import`)';
export const ETCD_SOURCE_DEFAULT_MESSAGE = 'must be absent when routeSource.type is "etcd" (the default route is the etcd key <prefix>default)';

export const configSchema = z
  .strictObject({
    gateway: gatewaySchema.prefault({}),
    routes: z.array(routeRuleSchema).max(10_000_000).default([]), // = MAX_ROUTES in load.ts
    /** Where clientIds that match no rule go. Without it a miss is HTTP 404 at the handshake. */
    defaultRoute: defaultRouteSchema.optional(),
    upstream: upstreamSchema.prefault({}),
    limits: limitsSchema.prefault({}),
    backpressure: backpressureSchema.prefault({}),
    log: logSchema.prefault({}),
    demo: demoSchema.prefault({}),
    routeSource: routeSourceSchema,
    routing: routingSchema.prefault({}),
    admin: adminSchema.prefault({}),
    auth: authSchema.prefault({}),
    admission: admissionSchema.prefault({}),
    tls: tlsSchema.prefault({}),
    reliable: reliableSchema.prefault({}),
    relay: relaySchema.prefault({}),
  })
  .superRefine((c, ctx) => {
    if (c.routeSource.type === 'etcd') {
      if (c.routes.length > 0) ctx.addIssue({ code: 'custom', path: ['routes'], message: ETCD_SOURCE_ROUTES_MESSAGE });
      if (c.defaultRoute !== undefined) ctx.addIssue({ code: 'custom', path: ['defaultRoute'], message: ETCD_SOURCE_DEFAULT_MESSAGE });
      if (c.routeSource.etcd.reconnectInitialMs > c.routeSource.etcd.reconnectMaxMs) {
        ctx.addIssue({ code: 'custom', path: ['routeSource', 'etcd', 'reconnectInitialMs'], message: 'must not exceed routeSource.etcd.reconnectMaxMs' });
      }
    }
    const tokenSources = [c.admin.token, c.admin.tokenFile, c.admin.tokenEnv].filter((t) => t !== undefined).length;
    if (c.admin.listen !== undefined && tokenSources === 0) {
      ctx.addIssue({ code: 'custom', path: ['admin', 'listen'], message: 'needs admin.token, admin.tokenFile or admin.tokenEnv (the admin endpoints are disabled without one)' });
    }
    if (tokenSources > 1) ctx.addIssue({ code: 'custom', path: ['admin', 'token'], message: 'give only one of admin.token, admin.tokenFile, admin.tokenEnv' });
    if (c.limits.preOpenMaxMessageBytes > c.limits.maxMessageBytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['limits', 'preOpenMaxMessageBytes'],
        message: 'must not exceed limits.maxMessageBytes',
      });
    }
    const r = c.reliable.upstreamReconnect;
    if (r.initialDelayMs > r.maxDelayMs) {
      ctx.addIssue({ code: 'custom', path: ['reliable', 'upstreamReconnect', 'initialDelayMs'], message: 'must not exceed reliable.upstreamReconnect.maxDelayMs' });
    }
    if (c.backpressure.lowWaterMarkBytes >= c.backpressure.highWaterMarkBytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['backpressure', 'lowWaterMarkBytes'],
        message: 'must be below backpressure.highWaterMarkBytes',
      });
    }
  });

export type Config = z.infer<typeof configSchema>;

/** What a route change does to live sessions (routing.onRouteChange and its rate). */
export type RouteChangePolicy = Pick<Config['routing'], 'onRouteChange' | 'migrateRatePerSecond'>;
