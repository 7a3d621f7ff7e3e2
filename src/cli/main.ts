#!/usr/bin/env -S node --max-semi-space-size=2
/**
 * `stratix-gateway` command line. Parses arguments and calls the library;
 * nothing else lives here.
 *
 *   stratix-gateway [--config FILE]            run the gateway
 *   stratix-gateway check-config [FILE]        validate a config file
 *   stratix-gateway routes import|export|explain …   the route rules, in etcd or a file
 *   stratix-gateway sign --kid K --secret-file F CLIENT_ID   a signed handshake's query string
 *   stratix-gateway status | sessions list|show|close …  a running instance, through its admin API
 *   stratix-gateway default-config             a complete, commented config
 *   stratix-gateway --help | --version
 */
import { gatewayVersion } from '../version.js';
import { resolveConfigPath } from './config-path.js';
import { ensurePrimaryFlags } from '../cluster/primary-flags.js';

// Each command's module is imported when it runs: a Node 20 primary's supervisor
// (cluster/primary-flags.ts) then loads only this file before it starts the primary,
// and the primary loads what the gateway needs and no other command.

const USAGE = `Usage:
  stratix-gateway [--config FILE]          run the gateway (default config: $STRATIX_CONFIG or config/route.json)
  stratix-gateway check-config [FILE]      validate a config file; exit 1 listing every bad setting
  stratix-gateway routes import FILE | export | explain ID  [--etcd URL… [--prefix P] | --file FILE | --config FILE]
                                           the route rules, in etcd or a file (default: the config's routeSource);
                                           see \`stratix-gateway routes --help\`
  stratix-gateway sign --kid KID --secret-file FILE [--ts MS] [--nonce N] [--url WS_URL] CLIENT_ID
                                           print a signed handshake's query string (docs/protocol.md)
  stratix-gateway status                   a running instance: readiness, route table, workers
  stratix-gateway sessions list|show|close …  its sessions (see \`stratix-gateway sessions --help\`)
  stratix-gateway default-config           print a complete config, every setting commented
  stratix-gateway --help | --version
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${gatewayVersion()}\n`);
    return 0;
  }
  if (command === 'routes') {
    const [{ runRoutesCommand }, { routesCommandDefaults }] = await Promise.all([import('./routes-command.js'), import('./routes-target.js')]);
    return runRoutesCommand(rest, process, routesCommandDefaults(rest, process.env));
  }
  if (command === 'sign') {
    const { runSignCommand } = await import('./sign-command.js');
    return runSignCommand(rest, process.stdout, process.stderr);
  }
  if (command === 'status') return (await import('./status-command.js')).runStatusCommand(rest, process, process.env);
  if (command === 'sessions') return (await import('./sessions-command.js')).runSessionsCommand(rest, process, process.env);
  if (command === 'default-config') return (await import('./default-config-command.js')).runDefaultConfigCommand(rest, process.stdout, process.stderr);
  if (command === 'check-config') {
    const file = rest[0] === '--config' ? rest[1] : rest[0];
    const { checkConfig } = await import('./check-config.js');
    return checkConfig(resolveConfigPath(file), process.stdout, process.stderr);
  }
  if (command === undefined || command.startsWith('-')) {
    const path = parseRunArgs(argv);
    if (path instanceof Error) {
      process.stderr.write(`${path.message}\n${USAGE}`);
      return 2;
    }
    // Started without the primary's V8 flags: start again with them before loading the gateway.
    const supervised = ensurePrimaryFlags();
    if (supervised !== undefined) return supervised;
    const { runGateway } = await import('./run.js');
    return runGateway(resolveConfigPath(path));
  }
  process.stderr.write(`unknown command: ${command}\n${USAGE}`);
  return 2;
}

function parseRunArgs(argv: string[]): string | undefined | Error {
  let file: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--config' || a === '-c') {
      file = argv[++i];
      if (file === undefined) return new Error('--config needs a file');
    } else if (a.startsWith('--config=')) {
      file = a.slice('--config='.length);
    } else {
      return new Error(`unknown option: ${a}`);
    }
  }
  return file;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== -1) process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exitCode = 1;
  },
);
