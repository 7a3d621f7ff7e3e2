/**
 * `stratix-gateway [--config FILE]`: loads the config once, starts the primary
 * and its workers, and turns signals into the drain (SIGTERM, SIGINT) or a reload
 * of the config file (SIGHUP). Returns -1 while running (the process exits from
 * the signal handlers).
 */
import { openPackedConfigFile } from '../config/packed-config.js';
import { ConfigError, StratixError } from '../errors.js';
import { createLogger } from '../log.js';
import { Primary } from '../cluster/primary.js';
import { ensurePrimaryFlags, noteSignal, watchSupervisor } from '../cluster/primary-flags.js';

export async function runGateway(configPath: string): Promise<number> {
  // Started without the primary's V8 flags: start again with them (primary-flags.ts).
  const supervised = ensurePrimaryFlags();
  if (supervised !== undefined) return supervised;
  let config;
  let rules;
  try {
    // The rules packed, not as objects: the primary routes nothing (config/packed-config.ts).
    // Their packing goes on while the primary starts its workers.
    ({ config, rules } = await openPackedConfigFile(configPath));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  // A bad rule rejects the rules, and so the primary's start: reported as a bad config, not a failed start.
  let badRules: unknown;
  rules.catch((err: unknown) => (badRules = err));
  const logger = createLogger({ level: config.log.level, bindings: { role: 'primary' } });
  let primary: Primary;
  try {
    primary = new Primary(config, { logger, configPath, rules });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    return cannotStart(logger, err);
  }
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    noteSignal(signal);
    signals++;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      primary.kill();
      logger.flush();
      process.exit(1);
    }
    logger.info({ signal }, 'shutting down');
    void primary.drain().then(() => {
      logger.flush();
      process.exit(0);
    });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  watchSupervisor(() => {
    logger.warn('the supervising process is gone: draining');
    onSignal('SIGTERM');
  });
  process.on('SIGHUP', () => {
    noteSignal('SIGHUP');
    logger.info({ path: configPath }, 'SIGHUP: reloading the config, auth keys and TLS certificate');
    void primary.reload('sighup');
    primary.reloadCredentials();
  });
  try {
    await primary.start();
  } catch (err) {
    primary.kill();
    if (err === badRules && err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    return cannotStart(logger, err);
  }
  return -1;
}

function cannotStart(logger: ReturnType<typeof createLogger>, err: unknown): number {
  logger.fatal({ err }, 'failed to start');
  logger.flush();
  const code = err instanceof StratixError ? ` (${err.code})` : '';
  process.stderr.write(`stratix-gateway: cannot start: ${(err as Error).message}${code}\n`);
  return 1;
}
