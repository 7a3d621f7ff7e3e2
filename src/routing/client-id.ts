/** The clientId rule lives with the handshake (src/protocol/client-id.ts); routing uses the same one. */
export { CLIENT_ID_CHARS, CLIENT_ID_PATTERN, isValidClientId, MAX_CLIENT_ID_LENGTH } from '../protocol/client-id.js';
