/**
 * Group U: the upstream's opening handshake (upstream-handshake.test.ts runs them).
 * Each is a 101 the gateway must refuse; U.1 (a correct 101) is the control case.
 */
import type { RawUpstreamOptions } from '../../helpers/raw-upstream.js';

const head = (lines: string[]) => `${lines.join('\r\n')}\r\n\r\n`;

export interface UpstreamCase {
  readonly id: string;
  readonly title: string;
  readonly upstream: RawUpstreamOptions;
  /** The reason of the client's 4502 (the check that failed). */
  readonly problem: string;
}

/** The 101s the gateway must refuse, each with the reason its 4502 carries. */
export const UPSTREAM_HANDSHAKE_CASES: readonly UpstreamCase[] = [
  { id: 'U.2', title: 'a wrong Sec-WebSocket-Accept', upstream: { accept: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' }, problem: 'invalid Sec-WebSocket-Accept in the 101' },
  {
    id: 'U.3',
    title: 'no Sec-WebSocket-Accept',
    upstream: { response: () => head(['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade']) },
    problem: 'invalid Sec-WebSocket-Accept in the 101',
  },
  {
    id: 'U.4',
    title: 'a 101 without "Upgrade: websocket"',
    upstream: { response: (accept) => head(['HTTP/1.1 101 Switching Protocols', 'Upgrade: h2c', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${accept}`]) },
    problem: 'invalid Upgrade header in the 101',
  },
  { id: 'U.5', title: 'an extension nobody offered (permessage-deflate)', upstream: { extraHeaders: ['Sec-WebSocket-Extensions: permessage-deflate'] }, problem: 'upstream chose an extension that was not offered' },
  { id: 'U.6', title: 'a subprotocol nobody offered', upstream: { extraHeaders: ['Sec-WebSocket-Protocol: chat.v1'] }, problem: 'upstream chose a subprotocol that was not offered' },
];
