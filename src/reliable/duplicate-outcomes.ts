/** A client message's outcome as the duplicate cache keeps it: in flight, ACKed, or a NACK index (errors.ts). */
export const IN_FLIGHT = -1;
export const ACKED = 0;
