/**
 * A real JWKS endpoint on loopback: serves a key set over HTTP, counts requests,
 * and can be stopped and started again on the same port (an outage).
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { JSONWebKeySet } from 'jose';

export interface JwksServer {
  readonly url: string;
  /** Requests answered so far. */
  readonly hits: number;
  keys: JSONWebKeySet;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startJwksServer(keys: JSONWebKeySet): Promise<JwksServer> {
  let hits = 0;
  let server: Server | undefined;
  let port = 0;
  const state = { keys };
  const start = async (): Promise<void> => {
    server = createServer((_req, res) => {
      hits++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(state.keys));
    });
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
  };
  await start();
  return {
    get url() {
      return `http://127.0.0.1:${port}/.well-known/jwks.json`;
    },
    get hits() {
      return hits;
    },
    get keys() {
      return state.keys;
    },
    set keys(k: JSONWebKeySet) {
      state.keys = k;
    },
    async stop() {
      if (server === undefined) return;
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
      server = undefined;
    },
    start,
  };
}
