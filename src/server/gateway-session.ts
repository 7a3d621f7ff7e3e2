/**
 * What the gateway process does with any of its sessions — a verbatim Session
 * (src/relay/session.ts) or a ReliableSession (src/reliable/) — in its drain, its
 * liveness rounds, its route migrations and its capacity count.
 */
import type { CloseCodeInfo } from '../protocol/close-codes.js';
import type { SessionView } from './session-view.js';

/** Every session is also listed, shown and closed by the admin API (SessionView). */
export interface GatewaySession extends SessionView {
  readonly clientId: string;
  /** The upstream URL it is connected (or connecting) to. */
  readonly target: string;
  /** Not closing or closed. */
  readonly live: boolean;
  /** One liveness round (per gateway.pingIntervalMs). */
  heartbeat(): void;
  /** Closes the client connection with `info` (a reliable session stays, for a resume). */
  close(info: CloseCodeInfo, reason?: string): void;
  /** Drops every connection at once. */
  terminate(): void;
  /**
   * The route for its clientId changed (routing.onRouteChange "migrate"): a verbatim
   * session closes its client with 4307; a reliable one moves its upstream to
   * `target` and sends upstream_reset. `undefined`: no route any more.
   */
  routeChanged(target: string | undefined): void;
}
