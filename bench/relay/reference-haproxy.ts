/**
 * Reference proxy `haproxy`: Debian's HAProxy configured as an operator would for a
 * WebSocket proxy: `mode http` (it handles the upgrade itself and then tunnels),
 * one process with a thread per core (`nbthread`), `timeout tunnel` of an hour, no
 * logging, `maxconn` sized to the per-process descriptor limit. HAProxy is one
 * process (there is no nbproc since 2.5), so it holds about half the sessions of a
 * proxy with a process per core: each session is two of its descriptors.
 * Started in the foreground (`-db`); its pid file is in the instance's directory.
 */
import path from 'node:path';
import type { ProgramSetup, ProxyProgram } from './proxy-program.js';

/** Each proxied session holds two descriptors: the client's and the server's connection. */
const DESCRIPTORS_PER_SESSION = 2;
/** Sessions kept free for the benchmark's start probes and warm-up. */
const SPARE_SESSIONS = 100;

function maxconn(setup: ProgramSetup): number {
  return Math.floor(setup.usableDescriptors / DESCRIPTORS_PER_SESSION);
}

function config(setup: ProgramSetup): string {
  return `# relay benchmark: HAProxy as a WebSocket proxy in front of the echo upstream
global
    nbthread ${setup.cores}
    maxconn ${maxconn(setup)}
    pidfile ${path.join(setup.dir, 'haproxy.pid')}

defaults
    mode http
    maxconn ${maxconn(setup)}
    timeout connect 5s
    timeout client 3600s
    timeout server 3600s
    timeout tunnel 3600s
    timeout http-request 10s

frontend relay
    bind 127.0.0.1:${setup.port}
    default_backend echo

backend echo
    server echo 127.0.0.1:${setup.upstreamPort}
`;
}

export const haproxy: ProxyProgram = {
  executable: 'haproxy',
  configFile: 'haproxy.cfg',
  config,
  args: (_setup, configPath) => ['-db', '-f', configPath],
  maxSessions: (setup) => maxconn(setup) - SPARE_SESSIONS,
};
