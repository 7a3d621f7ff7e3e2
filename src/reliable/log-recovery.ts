/**
 * Crash recovery: the logs a previous process left (orphan generations) are read
 * back; the sessions this process owns are restored into its own log and held
 * detached, as if their clients had just left — at the crash (the orphan's last
 * write) or earlier if a DETACHED record says so — so a client that resumes within
 * the window gets every envelope it had not acknowledged, then upstream_reset.
 *
 * Two passes over each orphan: the first checks every record and learns each
 * session's state (checkpoints, acks, ends), the second copies the envelopes and
 * message outcomes still live into the new log, in seq order, reading only what the
 * first found good; a gap (a lost log tail, a corrupt segment) shortens the
 * session to what is contiguous, and a client then ahead of it gets out_of_range.
 */
import { parseMessageBody, parseSessionBody, RecordKind, sessionBody, ENVELOPE_HEAD, RECORD_PREFIX, BODY_HEAD, type SessionState } from './log-records.js';
import { scanLog, type ScannedRecord } from './log-scan.js';
import { lastWrite } from './log-directory.js';
import type { ReliableSession } from './reliable-session.js';
import type { ReliableSessions } from './reliable-sessions.js';

export interface RecoveryReport {
  readonly dirs: number;
  /** The orphans that were read (the others stay on disk). */
  readonly read: readonly string[];
  readonly sessions: number;
  readonly expired: number;
  readonly envelopes: number;
  readonly bytes: number;
  readonly cut: number;
  readonly ms: number;
}

interface Found {
  state: SessionState;
  lastSeq: number;
  ackedSeq: number;
  detachedAtMs: number;
  ended: boolean;
}

/** Flush the new log every so many pending bytes while copying. */
const FLUSH_EVERY = 4 * 1024 * 1024;

export function recoverInto(host: ReliableSessions, orphans: readonly string[], owns: (clientId: string) => boolean): RecoveryReport {
  const t0 = host.clock.now();
  const now = host.clock.wallMs();
  const window = host.settings.resumeWindowMs;
  const found = new Map<string, Found>();
  let bytes = 0;
  let cut = 0;
  // Pass 1: states. An orphan that cannot be read at all is left where it is (reported, not removed).
  const readable: string[] = [];
  const verified = new Map<string, ReadonlyMap<number, number>>();
  for (const dir of orphans) {
    const byHandle = new Map<number, Found>();
    let crashAt: number;
    let r: ReturnType<typeof scanLog>;
    try {
      crashAt = lastWrite(dir);
      r = scanLog(dir, (rec) => learn(rec, byHandle, found));
    } catch (err) {
      host.metrics.logErrors.inc({ op: 'recovery' });
      host.logger.error({ dir, err: (err as Error).message }, 'message log: an orphan could not be read; it is kept for inspection');
      continue;
    }
    readable.push(dir);
    verified.set(dir, r.goodUntil);
    bytes += r.bytes;
    cut += r.cut.length;
    for (const c of r.cut) host.logger.warn({ dir, ...c }, 'message log: record cut off (torn tail or corruption)');
    for (const f of byHandle.values()) if (f.detachedAtMs === 0 && !f.ended) f.detachedAtMs = crashAt;
  }
  if (cut > 0) host.metrics.logErrors.inc({ op: 'recovery' }, cut);
  // Restore the owned, unexpired sessions.
  const restored = new Map<string, ReliableSession>();
  let expired = 0;
  for (const [id, f] of found) {
    if (f.ended || !owns(f.state.clientId)) continue;
    if (now - f.detachedAtMs >= window) {
      expired++;
      continue;
    }
    const s = host.restoreSession(id, f.state.clientId, f.state.target, f.state.createdAtMs, f.detachedAtMs);
    s.restore({ ...f.state, lastSeq: f.lastSeq, ackedSeq: f.ackedSeq });
    host.log.append(sessionBody(s.handle, s.snapshot()));
    restored.set(id, s);
  }
  // Pass 2: envelopes and outcomes, copied forward.
  let envelopes = 0;
  if (restored.size > 0) {
    for (const dir of readable) {
      const byHandle = new Map<number, ReliableSession | null>();
      scanLog(dir, (rec) => {
        if (rec.kind === RecordKind.Session) {
          byHandle.set(rec.handle, restored.get(parseSessionBody(rec.body).sessionId) ?? null);
          return;
        }
        const s = byHandle.get(rec.handle);
        if (s === undefined || s === null) return;
        if (rec.kind === RecordKind.Envelope) {
          const seq = rec.body.readDoubleLE(BODY_HEAD);
          if (seq <= s.ackedSeq) return;
          // A view into the segment's bytes: restoreEnvelope copies what it keeps.
          if (s.restoreEnvelope(seq, rec.body.subarray(ENVELOPE_HEAD - RECORD_PREFIX), !host.memoryShort)) envelopes++;
        } else if (rec.kind === RecordKind.Accepted || rec.kind === RecordKind.Outcome) {
          const m = parseMessageBody(rec.kind, rec.body);
          if (m.atMs + window > now) s.restoreOutcome(m.messageId, m.atMs, m.outcome);
        }
        if (host.log.pendingBytes >= FLUSH_EVERY) host.log.flush();
      }, { verified: verified.get(dir)! });
    }
    for (const s of restored.values()) s.settleRecovered();
  }
  host.log.flush();
  return { dirs: orphans.length, read: readable, sessions: restored.size, expired, envelopes, bytes, cut, ms: host.clock.now() - t0 };
}

/** Pass 1: what a record says about its session's state. */
function learn(rec: ScannedRecord, byHandle: Map<number, Found>, found: Map<string, Found>): void {
  if (rec.kind === RecordKind.Session) {
    const st = parseSessionBody(rec.body);
    let f = found.get(st.sessionId);
    if (f === undefined) {
      f = { state: st, lastSeq: st.lastSeq, ackedSeq: st.ackedSeq, detachedAtMs: st.detachedAtMs, ended: false };
      found.set(st.sessionId, f);
    } else {
      f.state = st;
      f.lastSeq = Math.max(f.lastSeq, st.lastSeq);
      f.ackedSeq = Math.max(f.ackedSeq, st.ackedSeq);
      f.detachedAtMs = st.detachedAtMs;
      f.ended = false;
    }
    byHandle.set(rec.handle, f);
    return;
  }
  const f = byHandle.get(rec.handle);
  if (f === undefined) return;
  switch (rec.kind) {
    case RecordKind.Envelope:
      f.lastSeq = Math.max(f.lastSeq, rec.body.readDoubleLE(BODY_HEAD));
      break;
    case RecordKind.ClientAck:
      f.ackedSeq = Math.max(f.ackedSeq, rec.body.readDoubleLE(BODY_HEAD));
      break;
    case RecordKind.Detached:
      f.detachedAtMs = rec.body.readDoubleLE(BODY_HEAD);
      break;
    case RecordKind.Attached:
      f.detachedAtMs = 0;
      break;
    case RecordKind.End:
      f.ended = true;
      break;
  }
}

