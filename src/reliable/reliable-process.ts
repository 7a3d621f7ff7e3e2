/**
 * Setting up one process's reliable layer: its settings (the instance's bounds
 * divided between the workers), its log generation, and the recovery of orphan
 * generations before it takes clients.
 *
 * A recovery writes into `<generation>.recovering` and renames it when the copy is
 * complete (and synced), so a process killed half way leaves only a directory the
 * next one deletes, with its sources intact.
 */
import type { Config } from '../config/schema.js';
import { rateLimited } from '../admission/message-rate.js';
import type { Clock } from '../time/clock.js';
import { listGenerations, lockLogRoot, newGeneration, ownedByLiveProcess, removeGeneration, writeOwner } from './log-directory.js';
import { recoverInto, type RecoveryReport } from './log-recovery.js';
import type { LogFileSystem } from './message-log.js';
import { ReliableSessions, type ReliableGatewayPort, type ReliableOptions } from './reliable-sessions.js';

/** Where this process's log goes and what it must recover. */
export interface ReliablePlacement {
  /** This process's generation directory (not yet created). */
  readonly generation: string;
  /** Orphan generations to read back (oldest first). */
  readonly orphans: readonly string[];
  /** Whether a clientId is this process's (its shard). */
  owns(clientId: string): boolean;
  /** The instance's worker processes (the bounds are split between them). */
  readonly workers: number;
}

export function reliableOptions(config: Config, generation: string, workers: number, fs?: LogFileSystem): ReliableOptions {
  const r = config.reliable;
  const share = (n: number) => Math.max(1, Math.floor(n / workers));
  return {
    resumeWindowMs: r.resumeWindowMs,
    heartbeatMs: r.heartbeatMs,
    helloTimeoutMs: r.helloTimeoutMs,
    maxUnackedMessages: r.maxUnackedMessages,
    maxUnackedBytes: r.maxUnackedBytes,
    duplicateWindowMessages: r.duplicateWindowMessages,
    ackDelayMs: r.ackDelayMs,
    rateLimits: rateLimited(config.admission.client) ? config.admission.client : undefined,
    reconnect: r.upstreamReconnect,
    logDir: generation,
    fsync: r.log.fsync,
    fsyncIntervalMs: r.log.fsyncIntervalMs,
    segmentBytes: r.log.segmentBytes,
    logMaxBytes: share(r.log.maxBytes),
    logFailureTimeoutMs: r.log.failureTimeoutMs,
    maxBufferedMessages: share(r.maxBufferedMessages),
    memoryBytes: share(r.memoryBytes),
    slowClientTimeoutMs: config.backpressure.slowClientTimeoutMs,
    ratePausedTimeoutMs: config.admission.client.pausedTimeoutMs,
    breakerReleaseSpreadMs: r.breakerReleaseSpreadMs,
    ...(fs === undefined ? {} : { fs }),
  };
}

/**
 * Opens the process's reliable layer: recovers the orphans into its generation (if
 * any) and returns it ready, with the recovery's report.
 */
export function openReliable(
  config: Config,
  placement: ReliablePlacement,
  port: ReliableGatewayPort,
  clock: Clock,
  fs?: LogFileSystem,
): { reliable: ReliableSessions; report: RecoveryReport | undefined } {
  const recovering = placement.orphans.length > 0;
  const dir = recovering ? `${placement.generation}.recovering` : placement.generation;
  const reliable = new ReliableSessions(reliableOptions(config, dir, placement.workers, fs), port, clock);
  reliable.open();
  writeOwner(dir);
  if (!recovering) return { reliable, report: undefined };
  const report = recoverInto(reliable, placement.orphans, placement.owns);
  reliable.flush();
  reliable.log.syncNow();
  reliable.log.moveTo(placement.generation);
  const { read, ...figures } = report;
  port.logger.info({ ...figures, read: read.length, generation: placement.generation }, 'reliable sessions recovered from the message log');
  return { reliable, report };
}

/**
 * A standalone gateway (one process): takes the log root (several standalone gateways
 * of one process may share it), its generation, and as orphans every generation no
 * live process writes.
 */
export function standalonePlacement(config: Config, clock: Clock): ReliablePlacement & { release(): void } {
  const root = config.reliable.log.dir;
  return {
    release: lockLogRoot(root),
    generation: newGeneration(root, 0, clock.wallMs()),
    orphans: listGenerations(root).filter((g) => !ownedByLiveProcess(g)),
    owns: () => true,
    workers: 1,
  };
}

/** Removes the orphans that were read (standalone: at once; cluster: when every worker is done). */
export function removeOrphans(orphans: readonly string[]): void {
  for (const g of orphans) removeGeneration(g);
}

