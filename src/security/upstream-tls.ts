/**
 * TLS towards wss:// upstreams (tls.upstream): the CA bundle, the optional client
 * certificate and the minimum version, read once into one SecureContext shared by
 * every upstream connection (parsing a CA bundle per connect would cost more than
 * the handshake), and the SNI name. Without tls.upstream settings Node's defaults
 * apply (its bundled roots, SNI = the URL's host).
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { TlsConfig } from '../config/security-schema.js';
import type { UpstreamTlsOptions } from '../relay/websocket-handshake.js';

export type { UpstreamTlsOptions };

/** Undefined when nothing differs from Node's defaults. Throws on unreadable files (checked at start). */
export function upstreamTlsOptions(u: TlsConfig['upstream']): UpstreamTlsOptions | undefined {
  if (u.caFile === undefined && u.certFile === undefined && u.servername === undefined && u.minVersion === 'TLSv1.2') return undefined;
  const secureContext = createSecureContext({
    minVersion: u.minVersion,
    ...(u.caFile === undefined ? {} : { ca: readFileSync(u.caFile) }),
    ...(u.certFile === undefined ? {} : { cert: readFileSync(u.certFile), key: readFileSync(u.keyFile!) }),
  });
  return { secureContext, servername: u.servername };
}
