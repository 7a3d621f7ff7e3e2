/**
 * @stratix/client: the client SDK for Stratix Gateway reliable sessions
 * (stratix.v1). See docs/client-sdk.md.
 */
export { StratixClient } from './stratix-client.js';
export type { ClientEvents, ClientState, ClientStats, GapInfo, MessageMeta, SendOptions, SendResult, UpstreamInfo } from './stratix-client.js';
export type { Credentials, StratixClientOptions } from './options.js';
export type { ResumeStorage } from './resume-state.js';
export type { ReconnectOptions, Advice } from './reconnect-policy.js';
export { CLOSE_ADVICE, SPREAD_RETRY_AFTER, adviceFor } from './reconnect-policy.js';
export type { WebSocketConstructor, WebSocketLike } from './websocket.js';
export {
  ClientErrorCodes,
  NACK_CODES,
  ClosedByGatewayError,
  NackError,
  NotDeliveredError,
  OptionError,
  RecoverableError,
  SendRefusedError,
  SessionEndedError,
  StratixError,
} from './errors.js';
export type { ClientErrorCode, NackCode } from './errors.js';
