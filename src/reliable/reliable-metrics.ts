/**
 * The reliable sessions' metrics (`stratix_reliable_*`, `stratix_upstream_breakers`),
 * registered on the process's registry and summed over workers like the rest.
 * Per-message counts are plain numbers read at scrape time; gauges ask the owner
 * (`ReliableGauges`) when scraped. No series per upstream: the breaker gauge counts
 * upstreams by state.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface ReliableGauges {
  attached(): number;
  detached(): number;
  bufferedMessages(): { memory: number; log: number };
  bufferedBytes(): { memory: number; log: number };
  upstreamsPaused(): { session: number; instance: number };
  logBytes(): number;
  logSegments(): number;
  breakers(): { open: number; halfOpen: number; waiting: number };
}

export type ResumeOutcome = 'recovered' | 'expired' | 'unknown' | 'out_of_range';
export type EndReason = 'client_close' | 'upstream_closed' | 'expired' | 'log_unavailable' | 'taken_over' | 'operator';

export class ReliableMetrics {
  /** Plain counters, read at scrape time. */
  envelopesSent = 0;
  envelopesReplayed = 0;
  acksSent = 0;
  clientAcks = 0;
  readonly sessionsStarted: Counter;
  readonly sessionsDetached: Counter;
  readonly sessionsEnded: Counter<'reason'>;
  readonly resumes: Counter<'outcome'>;
  readonly nacks: Counter<'code'>;
  readonly duplicates: Counter<'outcome'>;
  readonly duplicateEvictions: Counter;
  readonly upstreamPauses: Counter<'bound'>;
  readonly upstreamReconnects: Counter<'result'>;
  readonly logWriteSeconds: Histogram;
  readonly logFsyncSeconds: Histogram;
  readonly logErrors: Counter<'op'>;
  readonly recoveredSessions: Counter;

  constructor(registry: Registry, gauges: ReliableGauges) {
    const registers = [registry];
    const self = this;
    const plain = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    plain('stratix_reliable_envelopes_sent_total', 'Gateway envelopes (DATA and EVENT) written to clients, replays included.', () => self.envelopesSent);
    plain('stratix_reliable_envelopes_replayed_total', 'Envelopes sent again on a resume.', () => self.envelopesReplayed);
    plain('stratix_reliable_acks_total', 'ACKs sent to clients (their message was written to the upstream).', () => self.acksSent);
    plain('stratix_reliable_client_acks_total', 'Cumulative ACKs received from clients.', () => self.clientAcks);
    this.sessionsStarted = new Counter({ name: 'stratix_reliable_sessions_started_total', help: 'Reliable sessions started (a HELLO without sessionId, or a resume that found none).', registers });
    this.sessionsDetached = new Counter({ name: 'stratix_reliable_sessions_detached_total', help: 'Times a reliable session lost its client connection and waited for a resume.', registers });
    this.sessionsEnded = new Counter({ name: 'stratix_reliable_sessions_ended_total', help: 'Reliable sessions ended, by why.', labelNames: ['reason'], registers });
    this.resumes = new Counter({ name: 'stratix_reliable_resumes_total', help: 'HELLOs with a sessionId, by outcome.', labelNames: ['outcome'], registers });
    this.nacks = new Counter({ name: 'stratix_reliable_nacks_total', help: 'NACKs sent to clients, by code.', labelNames: ['code'], registers });
    this.duplicates = new Counter({ name: 'stratix_reliable_duplicates_total', help: 'Client messages recognised as duplicates and answered from memory (ack, nack) or after the first one (waited).', labelNames: ['outcome'], registers });
    this.duplicateEvictions = new Counter({ name: 'stratix_reliable_duplicate_evictions_total', help: 'messageIds forgotten because a session passed reliable.duplicateWindowMessages.', registers });
    this.upstreamPauses = new Counter({ name: 'stratix_reliable_upstream_pauses_total', help: 'Times a reliable session stopped reading its upstream at a bound: its own (session), the process\'s buffer or log (instance).', labelNames: ['bound'], registers });
    this.upstreamReconnects = new Counter({ name: 'stratix_reliable_upstream_reconnects_total', help: 'Upstream reconnect attempts of reliable sessions, by result (opened, failed, gave_up).', labelNames: ['result'], registers });
    this.recoveredSessions = new Counter({ name: 'stratix_reliable_sessions_recovered_total', help: 'Sessions read back from the message log after a restart.', registers });
    this.logWriteSeconds = new Histogram({
      name: 'stratix_reliable_log_write_seconds',
      help: 'Time of each message-log batch write (one writev).',
      buckets: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1],
      registers,
    });
    this.logFsyncSeconds = new Histogram({
      name: 'stratix_reliable_log_fsync_seconds',
      help: 'Time of each message-log fdatasync.',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers,
    });
    this.logErrors = new Counter({ name: 'stratix_reliable_log_errors_total', help: 'Message-log failures, by operation (write: e.g. a full disk; fsync; delete; recovery: corrupt records).', labelNames: ['op'], registers });

    const split = (name: string, help: string, label: string, read: () => Record<string, number>) =>
      new Gauge({
        name,
        help,
        labelNames: [label],
        registers,
        collect() {
          for (const [k, v] of Object.entries(read())) this.set({ [label]: k }, v);
        },
      });
    split('stratix_reliable_sessions', 'Reliable sessions, by whether a client is connected.', 'state', () => ({ attached: gauges.attached(), detached: gauges.detached() }));
    split('stratix_reliable_buffered_messages', 'Unacknowledged envelopes: with a copy in memory, and in all (each is in the log).', 'where', () => gauges.bufferedMessages());
    split('stratix_reliable_buffered_bytes', 'Bytes of unacknowledged envelopes: in memory, and in all (log).', 'where', () => gauges.bufferedBytes());
    split('stratix_reliable_upstreams_paused', 'Reliable sessions not reading their upstream now, by the bound that stopped them.', 'bound', () => gauges.upstreamsPaused());
    split('stratix_upstream_breakers', 'Upstreams whose circuit breaker is open or half-open now; waiting = sessions waiting for one.', 'state', () => {
      const b = gauges.breakers();
      return { open: b.open, half_open: b.halfOpen, waiting: b.waiting };
    });
    new Gauge({ name: 'stratix_reliable_log_bytes', help: 'Bytes in the message log segments.', registers, collect() { this.set(gauges.logBytes()); } });
    new Gauge({ name: 'stratix_reliable_log_segments', help: 'Message log segment files.', registers, collect() { this.set(gauges.logSegments()); } });
  }
}
