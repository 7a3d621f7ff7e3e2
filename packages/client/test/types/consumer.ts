// Compiled with no DOM library and no @types/node (test/types/tsconfig.json): the
// SDK's declarations must stand on their own for any consumer.
import { StratixClient, NackError, type ClientState, type WebSocketConstructor } from '@stratix/client';

declare const WS: WebSocketConstructor;
const c = new StratixClient({ url: 'ws://127.0.0.1:1/ws', clientId: 'types-1', WebSocket: WS, credentials: async () => ({ token: 't' }) });
c.on('message', (data: string | Uint8Array, meta) => void [data, meta.seq, meta.timestampNs]);
c.on('state', (s: ClientState) => void s);
c.on('gap', (g) => void [g.firstSeq, g.lastSeq, g.resume]);
c.on('upstreamReset', (u) => void u.code);
c.send('x').catch((e: unknown) => void (e instanceof NackError && e.code));
void c.close();
c.send('y').then((r) => void r.messageId.length);

// The browser bundle has the same declarations.
import { StratixClient as BrowserClient } from '@stratix/client/browser';
void new BrowserClient({ url: 'ws://127.0.0.1:1/ws', clientId: 'types-2', WebSocket: WS }).close();
