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
  /** On SIGTERM/SIGINT, client closes (1012) are spread at random over this period. */
  drainPeriodMs: ms(0, 3_600_000).default(30_000),
  /** After the drain period, sessions still closing get this long before the process exits anyway. */
  drainGraceMs: ms(0, 600_000).default(5_000),
  /**
   * Node/V8 flags for worker processes. The default caps V8's young generation at
   * 2 MiB semi-spaces: idle sessions then cost about half the RSS (docs/benchmarks.md).
   */
  workerNodeOptions: z.array(z.string().regex(/^--[a-z0-9-]+(=\S+)?$/, 'expected a flag like "--max-semi-space-size=2"')).max(32).default(['--max-semi-space-size=2']),
});

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
  headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/, 'invalid header name'), z.string()).default({}),
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

export const configSchema = z
  .strictObject({
    gateway: gatewaySchema.prefault({}),
    routes: z.array(routeRuleSchema).max(10_000_000).default([]),
    /** Where clientIds that match no rule go. Without it a miss is HTTP 404 at the handshake. */
    defaultRoute: defaultRouteSchema.optional(),
    upstream: upstreamSchema.prefault({}),
    limits: limitsSchema.prefault({}),
    backpressure: backpressureSchema.prefault({}),
    log: logSchema.prefault({}),
    demo: demoSchema.prefault({}),
  })
  .superRefine((c, ctx) => {
    if (c.limits.preOpenMaxMessageBytes > c.limits.maxMessageBytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['limits', 'preOpenMaxMessageBytes'],
        message: 'must not exceed limits.maxMessageBytes',
      });
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
