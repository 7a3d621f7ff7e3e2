/**
 * Where the admin token comes from: `admin.token` in the config, the file
 * `admin.tokenFile`, or the environment variable named by `admin.tokenEnv` (so the
 * secret need not sit in a config file that is copied around). Read once at start;
 * a missing or bad token is a ConfigError naming the setting.
 */
import { ConfigError } from '../errors.js';
import { adminToken } from '../config/schema.js';
import type { Config } from '../config/schema.js';
import { readSecretFile } from './key-files.js';

export function resolveAdminToken(admin: Config['admin'], env: NodeJS.ProcessEnv = process.env, source = '<config>'): string | undefined {
  let token: string | undefined;
  let path: string;
  if (admin.tokenFile !== undefined) {
    path = 'admin.tokenFile';
    try {
      token = readSecretFile(admin.tokenFile).toString('utf8');
    } catch (err) {
      throw new ConfigError(source, [`${path}: ${(err as Error).message}`]);
    }
  } else if (admin.tokenEnv !== undefined) {
    path = 'admin.tokenEnv';
    token = env[admin.tokenEnv];
    if (token === undefined) throw new ConfigError(source, [`${path}: the environment variable ${admin.tokenEnv} is not set`]);
  } else {
    return admin.token;
  }
  const checked = adminToken.safeParse(token);
  if (!checked.success) throw new ConfigError(source, [`${path}: the token ${checked.error.issues[0]?.message ?? 'is invalid'}`]);
  return checked.data;
}
