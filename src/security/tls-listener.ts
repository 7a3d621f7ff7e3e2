/**
 * The wss:// listener (tls.server): TLS 1.2+ with the configured certificate, and
 * optionally client certificates (mutual TLS). Certificates reload without
 * dropping sessions: a change to the files (or SIGHUP → `reload`) builds a new
 * secure context for new handshakes; connections already open keep theirs. A bad
 * new certificate is logged and the old one stays.
 *
 * Who terminates TLS is the caller's choice: the primary (which must read the
 * request head to pick the worker, and then pipes: see cluster/tls-pipe.ts) or a
 * standalone gateway. nginx in front is the recommended termination (docs/security.md).
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { createServer, type SecureContextOptions, type Server, type TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { TlsConfig } from '../config/security-schema.js';
import { DirectoryWatch } from './file-watch.js';

type ServerTls = NonNullable<TlsConfig['server']>;

export interface TlsListener {
  readonly server: Server;
  /** Re-reads the certificate files; keeps the old ones on failure. Resolves true if swapped. */
  reload(): boolean;
  close(): void;
}

/** The secure-context options of the files; throws (naming the file) if one cannot be read. */
export function serverTlsOptions(cfg: ServerTls): SecureContextOptions {
  const read = (path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`${path}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  return {
    cert: read(cfg.certFile),
    key: read(cfg.keyFile),
    minVersion: cfg.minVersion,
    ...(cfg.clientCaFile === undefined ? {} : { ca: read(cfg.clientCaFile) }),
  };
}

export interface TlsListenOptions {
  host: string | undefined;
  port: number;
  /** The accept queue (gateway.listenBacklog). */
  backlog: number;
  handshakeTimeoutMs?: number;
}

export async function listenTls(cfg: ServerTls, where: TlsListenOptions, onSecure: (socket: Socket) => void, logger: Logger): Promise<TlsListener> {
  const server = createServer({
    ...serverTlsOptions(cfg),
    requestCert: cfg.clientCaFile !== undefined,
    rejectUnauthorized: cfg.clientCaFile !== undefined,
    handshakeTimeout: where.handshakeTimeoutMs ?? 10_000,
    // The relay sets its own; ALPN: HTTP/1.1 only (a WebSocket upgrade).
    ALPNProtocols: ['http/1.1'],
  });
  server.on('secureConnection', (s: TLSSocket) => onSecure(s));
  server.on('tlsClientError', (_err, socket) => socket.destroy());
  server.listen({ host: where.host, port: where.port, backlog: where.backlog });
  await once(server, 'listening');
  const reload = (): boolean => {
    try {
      server.setSecureContext(serverTlsOptions(cfg));
      logger.info({ certFile: cfg.certFile }, 'TLS certificate loaded');
      return true;
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'TLS certificate not reloaded; the old one stays');
      return false;
    }
  };
  const files = [cfg.certFile, cfg.keyFile, ...(cfg.clientCaFile === undefined ? [] : [cfg.clientCaFile])];
  const watch = cfg.watch ? new DirectoryWatch(files, reload, logger) : undefined;
  return {
    server,
    reload,
    close() {
      watch?.close();
      server.close();
    },
  };
}
