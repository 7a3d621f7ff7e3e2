/**
 * The options every command that talks to a running instance takes:
 * `--url URL`, `--token TOKEN`, `--config FILE` (the instance's config: its admin
 * address and token), and `--json`. See src/ops/admin-client.ts for the order in which
 * they, the environment and the config are used.
 */
import { existsSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { loadConfigFile } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { AdminClient, AdminClientError, resolveAdminTarget } from '../ops/admin-client.js';
import { resolveConfigPath } from './config-path.js';

export interface CommandIo {
  stdout: Writable;
  stderr: Writable;
}

export const ADMIN_OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  config: { type: 'string', short: 'c' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const ADMIN_OPTIONS_USAGE = `  --url URL        the instance's admin API (default: $STRATIX_ADMIN_URL, else from the config:
                   admin.listen, else gateway.listen on 127.0.0.1)
  --token TOKEN    admin.token (default: $STRATIX_ADMIN_TOKEN, else the config's)
  --config FILE    the instance's config file (default: $STRATIX_CONFIG or config/route.json, if there)
  --json           print the API's JSON answer`;

/** The client for the flags, or an Error to report as a usage problem. */
export function adminClientFor(flags: { url?: string | undefined; token?: string | undefined; config?: string | undefined }, env: NodeJS.ProcessEnv): AdminClient | Error {
  let config: Config | undefined;
  const path = resolveConfigPath(flags.config, env);
  if (flags.config !== undefined || existsSync(path)) {
    try {
      config = loadConfigFile(path);
    } catch (err) {
      if (flags.config !== undefined || (flags.url === undefined && env['STRATIX_ADMIN_URL'] === undefined)) return err as Error;
    }
  }
  const target = resolveAdminTarget(flags, env, config);
  return target instanceof Error ? target : new AdminClient(target);
}

/** Prints an admin call's failure: one line with the code; exit status 1. */
export function reportFailure(io: CommandIo, err: unknown): number {
  if (err instanceof AdminClientError) {
    io.stderr.write(`error: ${err.message} (${err.code})\n`);
    return 1;
  }
  throw err;
}

export function usageError(io: CommandIo, usage: string, message: string): number {
  io.stderr.write(`error: ${message}\n${usage}`);
  return 2;
}
