/**
 * The logger factory. Structured JSON (pino) on stdout; one logger per process,
 * created by the entry point and passed down. Nothing logs per message at info.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level: LevelWithSilent;
  /** Bound to every line, e.g. {role: 'worker', worker: 2}. */
  bindings?: Record<string, unknown>;
  /** Write synchronously (tests, and the CLI's short commands). */
  sync?: boolean;
}

export function createLogger(opts: LoggerOptions): Logger {
  const destination = pino.destination({ fd: 1, sync: opts.sync ?? false });
  return pino(
    {
      level: opts.level,
      base: { pid: process.pid, ...opts.bindings },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/** A logger that drops everything (library use without logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
