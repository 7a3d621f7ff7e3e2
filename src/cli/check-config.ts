/** `stratix-gateway check-config FILE`: exit 0 if valid, 1 listing every bad setting by path. */
import type { Writable } from 'node:stream';
import { loadConfigFile } from '../config/load.js';
import { ConfigError } from '../errors.js';

export function checkConfig(path: string, stdout: Writable, stderr: Writable): number {
  try {
    const config = loadConfigFile(path);
    stdout.write(`${path}: ok (${config.routes.length} routes${config.defaultRoute ? ', default route' : ''})\n`);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
