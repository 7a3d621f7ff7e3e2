/**
 * The gateway's metrics, one instance per process, passed in (no global registry).
 *
 * Hot-path counters are plain numbers in typed arrays indexed by direction; the
 * prom-client metrics read them at scrape time (`collect`), so relaying a message
 * costs two additions, not a label lookup. Rare events (handshake refusals,
 * closes, connect failures) use prom-client counters directly.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const enum Direction {
  ClientToUpstream = 0,
  UpstreamToClient = 1,
}
const DIRECTION_LABELS = ['client_to_upstream', 'upstream_to_client'] as const;

/** The buffers of a verbatim session whose largest size is kept (stratix_relay_buffer_peak_bytes). */
export const enum RelayBuffer {
  /** Client bytes queued while the upstream connects (limits.preOpenQueueBytes). */
  PreOpenQueue = 0,
  /** Bytes the gateway holds for a client socket (backpressure.highWaterMarkBytes). */
  ClientWrite = 1,
  /** Bytes the gateway holds for an upstream socket. */
  UpstreamWrite = 2,
}
const RELAY_BUFFER_LABELS = ['preopen_queue', 'client_write', 'upstream_write'] as const;

/** Why an accepted message was not delivered. */
export type FailureReason =
  /** Queued while the upstream was connecting, and the upstream never opened. */
  | 'upstream_unavailable'
  /** The other leg was already closing or closed when the message arrived. */
  | 'peer_closed'
  /** Still buffered for a leg that was closed or dropped before it could be written. */
  | 'unflushed'
  /** Reliable sessions: a client message answered with a NACK. */
  | 'nacked'
  /** Reliable sessions: an envelope still unacknowledged when its session ended (expired, or closed). */
  | 'session_ended';

export interface GatewayMetricsOptions {
  /** Add prom-client's process_* and nodejs_* metrics. */
  defaultMetrics?: boolean;
  /** Extra labels on every series (e.g. {worker: "0"} is NOT used: workers are summed). */
  prefix?: string;
}

export class GatewayMetrics {
  readonly registry = new Registry();

  readonly messagesReceived = new Float64Array(2);
  readonly messagesSent = new Float64Array(2);
  readonly bytesReceived = new Float64Array(2);
  readonly bytesSent = new Float64Array(2);
  /** The largest size each RelayBuffer reached in any session since the process started. */
  readonly bufferPeaks = new Float64Array(3);
  readonly #failed = new Map<string, Float64Array>();
  connectionsTotal = 0;
  /** Set by the owner (e.g. a function returning the session count). */
  activeSessions: () => number = () => 0;
  /**
   * Set by the owner when sessions are relayed off the JS path (the native data path):
   * messages c2u, u2c and payload bytes c2u, u2c relayed there, added to the counters
   * above at scrape (each is both received and sent).
   */
  relayedElsewhere: (() => Float64Array) | undefined;
  pausedSessions: () => number = () => 0;

  readonly handshakeRejections: Counter<'code'>;
  readonly clientCloses: Counter<'code'>;
  readonly upstreamConnectFailures: Counter<'code'>;
  readonly upstreamConnectSeconds: Histogram<'result'>;
  readonly relayLatencySeconds: Histogram<'direction'>;
  readonly backpressurePauses: Counter<'direction'>;
  readonly pingTimeouts: Counter<'leg'>;
  readonly controlFramesDropped: Counter<'leg' | 'why'>;
  readonly ratePauses: Counter<'direction'>;
  readonly draining: Gauge;
  /** Set by the primary at each scrape: workers with no figures in it. */
  readonly workersMissing: Gauge;
  /** Set by the primary at each scrape: workers whose figures in it are their last answer (they did not answer this one). */
  readonly workersStale: Gauge;
  readonly routeTableVersion: Gauge<'version'>;
  readonly routeTableRules: Gauge;

  constructor(opts: GatewayMetricsOptions = {}) {
    const registers = [this.registry];
    const self = this;
    if (opts.defaultMetrics) collectDefaultMetrics({ register: this.registry });

    new Counter({
      name: 'stratix_connections_total',
      help: 'Client WebSocket sessions accepted (upgrade completed).',
      registers,
      collect() {
        this.reset();
        this.inc(self.connectionsTotal);
      },
    });
    new Gauge({
      name: 'stratix_connections_active',
      help: 'Client sessions open now.',
      registers,
      collect() {
        this.set(self.activeSessions());
      },
    });
    directional('stratix_messages_received_total', 'Messages accepted from a leg.', this.messagesReceived, 0);
    directional('stratix_messages_sent_total', 'Messages written to the other leg.', this.messagesSent, 0);
    directional('stratix_bytes_received_total', 'Payload bytes accepted from a leg.', this.bytesReceived, 2);
    directional('stratix_bytes_sent_total', 'Payload bytes written to the other leg.', this.bytesSent, 2);
    new Counter({
      name: 'stratix_messages_failed_total',
      help: 'Accepted messages that were not delivered, by direction and reason.',
      labelNames: ['direction', 'reason'],
      registers,
      collect() {
        this.reset();
        for (const [reason, counts] of self.#failed) {
          for (let d = 0; d < 2; d++) if (counts[d]! > 0) this.inc({ direction: DIRECTION_LABELS[d], reason }, counts[d]);
        }
      },
    });
    new Gauge({
      name: 'stratix_relay_buffer_peak_bytes',
      help: 'The largest buffer of each kind any verbatim session held since the process started (the bounds: docs/conformance.md).',
      labelNames: ['buffer'],
      registers,
      aggregator: 'max',
      collect() {
        for (let b = 0; b < 3; b++) this.set({ buffer: RELAY_BUFFER_LABELS[b]! }, self.bufferPeaks[b]!);
      },
    });
    new Gauge({
      name: 'stratix_sessions_paused',
      help: 'Sessions whose reads are paused by backpressure now.',
      registers,
      collect() {
        this.set(self.pausedSessions());
      },
    });
    this.handshakeRejections = new Counter({
      name: 'stratix_handshake_rejections_total',
      help: 'Upgrade requests refused, by error code.',
      labelNames: ['code'],
      registers,
    });
    this.clientCloses = new Counter({
      name: 'stratix_client_closes_total',
      help: 'Client sessions closed, by the close code sent or received.',
      labelNames: ['code'],
      registers,
    });
    this.upstreamConnectFailures = new Counter({
      name: 'stratix_upstream_connect_failures_total',
      help: 'Upstream connections that could not be opened, by error code.',
      labelNames: ['code'],
      registers,
    });
    this.upstreamConnectSeconds = new Histogram({
      name: 'stratix_upstream_connect_seconds',
      help: 'Time from starting an upstream connection to its open (or failure).',
      labelNames: ['result'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.relayLatencySeconds = new Histogram({
      name: 'stratix_relay_latency_seconds',
      help: 'Sampled (1 in 64 messages): time from a message arriving on one leg to it being flushed to the other.',
      labelNames: ['direction'],
      buckets: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.backpressurePauses = new Counter({
      name: 'stratix_backpressure_pauses_total',
      help: 'Times a leg was paused because the other leg was over its high-water mark, by the paused direction.',
      labelNames: ['direction'],
      registers,
    });
    this.pingTimeouts = new Counter({
      name: 'stratix_ping_timeouts_total',
      help: 'Legs dropped because they did not answer a ping.',
      labelNames: ['leg'],
      registers,
    });
    this.controlFramesDropped = new Counter({
      name: 'stratix_control_frames_dropped_total',
      help: 'Control frames not written: pongs to a leg whose buffer was over the high-water mark (its reads are then paused), or pings/pongs beyond the 8 that may wait behind a frame in flight.',
      labelNames: ['leg', 'why'],
      registers,
    });
    this.ratePauses = new Counter({
      name: 'stratix_rate_limit_pauses_total',
      help: 'Times a connection went over its message or byte rate (admission.client) and that side stopped being read, by direction.',
      labelNames: ['direction'],
      registers,
    });
    this.draining = new Gauge({ name: 'stratix_draining', help: '1 while the instance drains for shutdown.', registers });
    this.workersMissing = new Gauge({
      name: 'stratix_metrics_workers_missing',
      help: 'Workers with no figures in this scrape (not running, or no answer since their process started): the sums leave them out.',
      registers,
    });
    this.workersStale = new Gauge({
      name: 'stratix_metrics_workers_stale',
      help: 'Workers whose figures in this scrape are from an earlier one (running, no answer within 2 s): the sums add their last answer.',
      registers,
    });
    this.routeTableVersion = new Gauge({
      name: 'stratix_route_table_info',
      help: 'The route table version in use (value 1).',
      labelNames: ['version'],
      registers,
    });
    // Every worker holds the same table: the instance's count is the max, not the sum.
    this.routeTableRules = new Gauge({ name: 'stratix_route_table_rules', help: 'Rules in the route table.', registers, aggregator: 'max' });

    /** `elsewhere`: where this counter's pair starts in relayedElsewhere(). */
    function directional(name: string, help: string, values: Float64Array, elsewhere: number): void {
      new Counter({
        name,
        help,
        labelNames: ['direction'],
        registers,
        collect() {
          this.reset();
          const more = self.relayedElsewhere?.();
          this.inc({ direction: DIRECTION_LABELS[0] }, values[0]! + (more === undefined ? 0 : more[elsewhere]!));
          this.inc({ direction: DIRECTION_LABELS[1] }, values[1]! + (more === undefined ? 0 : more[elsewhere + 1]!));
        },
      });
    }
  }

  /** Messages sent in direction `d` as stratix_messages_sent_total has them (with those relayed elsewhere). */
  sentTotal(d: Direction): number {
    const more = this.relayedElsewhere?.();
    return this.messagesSent[d]! + (more === undefined ? 0 : more[d]!);
  }

  /** Notes that buffer `b` of a session holds `bytes` now (keeps the peak). */
  bufferAt(b: RelayBuffer, bytes: number): void {
    if (bytes > this.bufferPeaks[b]!) this.bufferPeaks[b] = bytes;
  }

  /** Records `count` accepted messages that will not be delivered. */
  failed(direction: Direction, reason: FailureReason, count = 1): void {
    let counts = this.#failed.get(reason);
    if (counts === undefined) this.#failed.set(reason, (counts = new Float64Array(2)));
    counts[direction] += count;
  }

  setRouteTable(version: string, rules: number): void {
    this.routeTableVersion.reset();
    this.routeTableVersion.set({ version }, 1);
    this.routeTableRules.set(rules);
  }

  get messagesFailedTotal(): number {
    let n = 0;
    for (const c of this.#failed.values()) n += c[0]! + c[1]!;
    return n;
  }

  /** Messages failed in direction `d`, every reason. */
  failedTotal(d: Direction): number {
    let n = 0;
    for (const c of this.#failed.values()) n += c[d]!;
    return n;
  }
}

export function directionLabel(d: Direction): string {
  return DIRECTION_LABELS[d];
}
