/**
 * tidemark browser client (wire protocol v1): dependency-free ES modules.
 *
 *   import { TidemarkClient } from '/client/tidemark.js';
 *   const client = new TidemarkClient({ url: location.origin, token: getToken });
 *   const me = client.space('user:me');
 *   me.on('change', () => render(me.get('settings', 'ui')));
 *   client.on('status', (status) => badge(status, client.lastSyncedRelative()));
 *   await me.patch('settings', 'ui', { theme: 'dark' });
 *
 * What it does (see docs/protocol.md for the wire, docs/architecture.md for the design):
 *  - every write applies optimistically at once and resolves on `ack`; on
 *    `reject` it is rolled back and the still-pending writes are re-applied on
 *    top of the server's state (the view is always "server state + pending");
 *  - writes queue in order, survive reloads (persisted in `storage`), and are
 *    flushed on reconnect; a closed tab's queue is picked up by the next tab of
 *    the same user;
 *  - documents, cursors and the last sync time are cached per user and space,
 *    so a reload shows the last state (and how old it is) at once and resumes
 *    from its cursor;
 *  - transports: WebSocket, then server-sent events, then long-polling, with
 *    exponential backoff and full jitter, while WebSocket is retried behind;
 *  - tabs of one browser share optimistic and server changes over
 *    BroadcastChannel.
 *
 * Map (this file only re-exports; everything lives in src/):
 *   pure logic, unit-tested
 *     src/constants.js     PROTOCOL, SUBPROTOCOL, TRANSPORTS, DEFAULTS
 *     src/util.js          clone, deepEqual, docKey, splitKey, ids, hashes, baseUrls
 *     src/errors.js        TidemarkError
 *     src/time.js          backoffDelay, isStale, relativeTime
 *     src/patch.js         mergePatch, composePatches, applyOp, coalesceOp, rebase, validateOp
 *     src/state.js         emptyState, applyEvent, applyCatchUp, cursors
 *     src/queue.js         MutationQueue (one client id's pending writes)
 *   the client
 *     src/client.js        TidemarkClient: options, public methods, start-up, timers, user
 *     src/space.js         Space: one space's server state, view, reads, writes, `change`
 *     src/token.js         decodeJwt, token refresh
 *     src/storage.js       MemoryStorage, default storage, the per-user cache
 *     src/slots.js         client ids per tab: locks / leases, stored queues, orphans
 *     src/tabs.js          BroadcastChannel between tabs
 *     src/writes.js        queueing writes, the pump that sends them
 *     src/results.js       ack / reject: retry, renumber, rollback
 *     src/apply.js         server answers into spaces, gaps, the optimistic view
 *     src/status.js        status, `status` / `error` events, waiting for sync
 *     src/page.js          online / offline / hidden
 *     src/transports/fallback.js   which transport runs, switching between them
 *     src/transports/websocket.js  /v1/ws: hello, frames, ping, version check
 *     src/transports/sse.js        /v1/events, one EventSource per space
 *     src/transports/http.js       POST /v1/sync, long-polling, fetch
 *   client.js installs the `*Methods` objects of the other client modules on
 *   TidemarkClient's prototype; they share the state its constructor sets up.
 *
 * Data flow: a write goes Space -> writes (queue in a slot, persisted;
 * broadcast to tabs) -> a transport -> results (ack / reject). Server state
 * goes transport -> apply (applyCatchUp on the space's state, cached by
 * storage) -> the view is recomputed (server state + pending writes) -> the
 * space's `change` event; status.js turns the transports' health and the
 * spaces' sync into `status` events.
 *
 * Modules use only `import { names } from './relative.js'` and `export` in
 * front of declarations (this file also `export { names } from`): the server
 * serves them one by one under /client/src/ and bundles them into the one
 * file it serves as /client/tidemark.js (src/http/assets/bundle.rs), so no
 * build step is needed anywhere.
 */

export { PROTOCOL, SUBPROTOCOL, TRANSPORTS, DEFAULTS } from './src/constants.js';
export { clone, deepEqual, docKey, splitKey, baseUrls } from './src/util.js';
export { TidemarkError } from './src/errors.js';
export { backoffDelay, isStale, relativeTime } from './src/time.js';
export { mergePatch, composePatches, applyOp, coalesceOp, rebaseDoc, rebase, validateOp } from './src/patch.js';
export { emptyState, applyEvent, applyCatchUp, formatCursor, parseCursor } from './src/state.js';
export { MutationQueue } from './src/queue.js';
export { MemoryStorage } from './src/storage.js';
export { decodeJwt } from './src/token.js';
export { TidemarkClient, TidemarkClient as default } from './src/client.js';
