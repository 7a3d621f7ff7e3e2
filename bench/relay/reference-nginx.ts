/**
 * Reference proxy `nginx`: Debian's nginx configured as an operator would for a
 * WebSocket proxy: one worker process per core (`worker_processes auto`, or
 * `setup.workers`), each with
 * its own listening socket (`reuseport`), HTTP/1.1 to the upstream with the Upgrade
 * and Connection headers passed on, hour-long read/send timeouts, no buffering, no
 * access log; descriptors and `worker_connections` sized to the per-process limit.
 * The master runs in the foreground (`daemon off`); all its files are in the
 * instance's temporary directory.
 */
import path from 'node:path';
import type { ProgramSetup, ProxyProgram } from './proxy-program.js';

/** Each proxied session is two of a worker's connections: the client's and the upstream's. */
const CONNECTIONS_PER_SESSION = 2;
/** Reuseport hashes clients over the workers; allows for one holding a little more. */
const UNEVEN_SPREAD = 0.95;

function workerConnections(setup: ProgramSetup): number {
  return setup.usableDescriptors;
}

function config(setup: ProgramSetup): string {
  const file = (name: string): string => path.join(setup.dir, name);
  return `# relay benchmark: nginx as a WebSocket proxy in front of the echo upstream
daemon off;
worker_processes ${setup.workers ?? 'auto'};
worker_rlimit_nofile ${setup.openFiles};
pid ${file('nginx.pid')};
error_log ${file('error.log')} warn;

events {
    worker_connections ${workerConnections(setup)};
}

http {
    access_log off;
    tcp_nodelay on;
    client_body_temp_path ${file('client_body')};
    proxy_temp_path ${file('proxy')};
    fastcgi_temp_path ${file('fastcgi')};
    uwsgi_temp_path ${file('uwsgi')};
    scgi_temp_path ${file('scgi')};

    map $http_upgrade $connection_upgrade {
        default upgrade;
        ''      close;
    }

    upstream echo {
${(setup.upstreamPorts ?? [setup.upstreamPort]).map((port) => `        server 127.0.0.1:${port};`).join('\n')}
    }

    server {
        listen 127.0.0.1:${setup.port} reuseport backlog=4096;

        location / {
            proxy_pass http://echo;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
            proxy_buffering off;
        }
    }
}
`;
}

export const nginx: ProxyProgram = {
  executable: 'nginx',
  configFile: 'nginx.conf',
  config,
  // -e: the log for errors before the config is read (nginx >= 1.19.5); -p: prefix.
  args: (setup, configPath) => ['-p', `${setup.dir}/`, '-e', path.join(setup.dir, 'error.log'), '-c', configPath],
  maxSessions: (setup) =>
    Math.floor((workerConnections(setup) / CONNECTIONS_PER_SESSION) * (setup.workers ?? setup.cores) * UNEVEN_SPREAD),
};
