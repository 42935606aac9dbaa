/** The caller's verified SPIFFE ID, set by the callee's proxy; never taken from a client. */
export const PEER_IDENTITY_HEADER = 'trellis-peer-identity';
