// Wire constants and the client's tunables.

/** `hello.protocol`. */
export const PROTOCOL = 1;

/** WebSocket subprotocol. */
export const SUBPROTOCOL = 'tidemark.v1';

/** Transports in the order they are tried. */
export const TRANSPORTS = Object.freeze(['websocket', 'sse', 'poll']);

/** Tunables; every one may be overridden through the constructor options. */
export const DEFAULTS = Object.freeze({
  staleAfterMs: 300_000, // seed 000: data older than 5 minutes is stale
  backoffBaseMs: 1_000,
  backoffMaxMs: 30_000,
  fallbackAfter: 3, // consecutive failures before the next transport
  pingIntervalMs: 25_000, // `ping {nonce}` (and SSE's /version liveness check); seed 001's heartbeatInterval, like the server's
  pongTimeoutMs: 10_000, // no frame at all this long after a ping: dead (keep it below pingIntervalMs)
  versionCheckMs: 30_000, // WebSocket: /version of each space; seed 001's pollingInterval (SYNC_VERSION_CHECK_INTERVAL); 0 = off
  connectTimeoutMs: 10_000, // no welcome / first answer this long: failed
  stableAfterMs: 10_000, // a connection that lived this long resets the failures
  longPollWaitS: 25,
  leaseTtlMs: 180_000, // storage leases survive background-tab timer throttling
  leaseRenewMs: 15_000,
  tokenRefreshMarginMs: 60_000,
  maxOpsPerMutation: 100, // server default
  maxMutationsPerRequest: 100, // server accepts 500 per POST /v1/sync
  maxInflight: 32, // unacknowledged `mutate` frames on one WebSocket
  maxRetries: 5, // of a mutation rejected `unavailable` / `rate_limited`
  saveDelayMs: 100, // coalesces cache writes
  syncTimeoutMs: 30_000, // forceSync() gives up after this long
});
