import { CONFIG_ENV_VAR, DEFAULT_CONFIG_PATH } from '../config/config-location.js';

/** `--config FILE`, else $STRATIX_CONFIG, else config/route.json (relative to the working directory). */
export function resolveConfigPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return flag ?? (env[CONFIG_ENV_VAR] || DEFAULT_CONFIG_PATH);
}
