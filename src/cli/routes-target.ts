/**
 * What `stratix-gateway routes …` works against when its command line names no
 * target (--etcd, --file, --config): the gateway's own config ($STRATIX_CONFIG or
 * config/route.json) — its etcd (endpoints, prefix, timeouts) when
 * routeSource.type is "etcd", else the config file itself. Nothing when that config
 * cannot be loaded: the command then asks for a target.
 */
import { existsSync } from 'node:fs';
import { loadConfigFile } from '../config/load.js';
import type { RoutesCommandOptions } from './routes-command.js';
import { resolveConfigPath } from './config-path.js';

const TARGET_FLAGS = ['--etcd', '--file', '--config'];

export function routesCommandDefaults(args: readonly string[], env: NodeJS.ProcessEnv): RoutesCommandOptions {
  if (args.some((a) => TARGET_FLAGS.some((f) => a === f || a.startsWith(`${f}=`)))) return {};
  const path = resolveConfigPath(undefined, env);
  if (!existsSync(path)) return {};
  let config;
  try {
    config = loadConfigFile(path);
  } catch {
    return {};
  }
  const source = config.routeSource;
  if (source.type === 'file') return { defaultTarget: { file: path } };
  return {
    defaultTarget: { etcd: { endpoints: source.etcd.endpoints, prefix: source.etcd.prefix } },
    requestTimeoutMs: source.etcd.requestTimeoutMs,
    pageSize: source.etcd.pageSize,
  };
}
