/**
 * `stratix-gateway default-config`: prints a complete config, every setting at its
 * default with a comment saying what it does (JSON with comments, which the loader
 * reads). `stratix-gateway default-config > /etc/stratix/route.json` is a valid start.
 */
import type { Writable } from 'node:stream';
import { DEFAULT_CONFIG_TEXT } from '../config/default-config.js';

export function runDefaultConfigCommand(args: string[], stdout: Writable, stderr: Writable): number {
  if (args.length > 0 && args[0] !== '--help' && args[0] !== '-h') {
    stderr.write(`error: default-config takes no arguments\nusage: stratix-gateway default-config > FILE\n`);
    return 2;
  }
  stdout.write(args.length > 0 ? 'usage: stratix-gateway default-config > FILE\n' : DEFAULT_CONFIG_TEXT);
  return 0;
}
