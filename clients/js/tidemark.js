/**
 * tidemark browser client (wire protocol v1) — one dependency-free ES module.
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
 * Layout of this file:
 *   1. constants and JSON helpers
 *   2. pure sync logic (exported and unit-tested): backoff, staleness, merge
 *      patch, op coalescing, rebase, catch-up application, the mutation queue,
 *      JWT and cursor helpers
 *   3. persistence helpers: memory storage, storage keys
 *   4. Space: one space's server state, optimistic view and change events
 *   5. TidemarkClient: tokens, client-id slots, the mutation pump, transports,
 *      multi-tab coordination, status
 */

// ───────────────────────────── 1. constants and JSON helpers ─────────────────

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

const COLLECTION_RE = /^[a-z0-9_]{1,64}$/;
const RETRYABLE = new Set(['unavailable', 'rate_limited']);
const ANSWERS = new Set(['snapshot', 'events', 'up_to_date']);

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Sets an own property, also for the key `__proto__`. */
function setKey(obj, k, v) {
  if (k === '__proto__') Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
  else obj[k] = v;
}

/** Deep copy of a JSON value (`undefined` stays `undefined`). */
export function clone(v) {
  return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
}

/** Structural equality of two JSON values. */
export function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!Object.prototype.hasOwnProperty.call(b, k) || !deepEqual(a[k], b[k])) return false;
  return true;
}

/** Map key of a document. Collections never contain `/`, so it is unambiguous. */
export function docKey(collection, id) {
  return `${collection}/${id}`;
}

/** Inverse of {@link docKey}. */
export function splitKey(key) {
  const i = key.indexOf('/');
  return { collection: key.slice(0, i), id: key.slice(i + 1) };
}

function utf8Length(s) {
  return new TextEncoder().encode(s).length;
}

function randomId(prefix) {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return prefix + c.randomUUID().replace(/-/g, '').slice(0, 20);
  let s = '';
  for (let i = 0; i < 20; i++) s += Math.floor(Math.random() * 36).toString(36);
  return prefix + s;
}

/** FNV-1a, 32 bits, hex: short stable names for storage keys. */
function hash32(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

function toMs(t) {
  if (t === null || t === undefined) return null;
  if (t instanceof Date) return t.getTime();
  return typeof t === 'number' ? t : new Date(t).getTime();
}

/** Errors the client hands to callers: `code` is a reject or error code. */
export class TidemarkError extends Error {
  constructor(code, message, extra = {}) {
    super(message || code);
    this.name = 'TidemarkError';
    this.code = code;
    Object.assign(this, extra);
  }
}

// ───────────────────────────── 2. pure sync logic ────────────────────────────

/**
 * Reconnect delay with exponential backoff and full jitter: a uniform random
 * delay in `[0, min(maxMs, baseMs * 2^attempt))`. `attempt` counts from 0.
 */
export function backoffDelay(attempt, { baseMs = DEFAULTS.backoffBaseMs, maxMs = DEFAULTS.backoffMaxMs, random = Math.random } = {}) {
  const n = Math.max(0, Math.floor(Number(attempt) || 0));
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(n, 40));
  return Math.floor(random() * ceiling);
}

/** True when `lastSynced` (Date, ms or ISO string; null = never) is at least `staleAfterMs` old. */
export function isStale(lastSynced, now = Date.now(), staleAfterMs = DEFAULTS.staleAfterMs) {
  const t = toMs(lastSynced);
  if (t === null || Number.isNaN(t)) return true;
  return now - t >= staleAfterMs;
}

/**
 * The sync badge's words (seed 000): `"just now"` under a minute, `"2m ago"`
 * under `staleAfterMs` (5 minutes), `"stale"` from then on, `"never"` before
 * the first sync.
 */
export function relativeTime(lastSynced, now = Date.now(), staleAfterMs = DEFAULTS.staleAfterMs) {
  const t = toMs(lastSynced);
  if (t === null || Number.isNaN(t)) return 'never';
  const age = now - t;
  if (age >= staleAfterMs) return 'stale';
  if (age < 60_000) return 'just now';
  return `${Math.floor(age / 60_000)}m ago`;
}

/** RFC 7396 JSON merge patch; returns a new value and never mutates its inputs. */
export function mergePatch(target, patch) {
  if (!isObject(patch)) return clone(patch);
  const out = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else setKey(out, k, mergePatch(Object.prototype.hasOwnProperty.call(out, k) ? out[k] : undefined, v));
  }
  return out;
}

/**
 * One merge patch with the effect of applying `first` then `second`, or
 * `undefined` when no single merge patch has it (`first` replaced a member
 * with a non-object and `second` then builds an object there: a merge patch
 * cannot say "replace with this object").
 */
export function composePatches(first, second) {
  if (!isObject(second)) return clone(second);
  if (!isObject(first)) return undefined;
  const out = { ...first };
  for (const [k, v] of Object.entries(second)) {
    const had = Object.prototype.hasOwnProperty.call(first, k);
    if (isObject(v) && had) {
      if (!isObject(first[k])) return undefined;
      const c = composePatches(first[k], v);
      if (c === undefined) return undefined;
      setKey(out, k, c);
    } else {
      setKey(out, k, clone(v));
    }
  }
  return out;
}

/**
 * Applies one op to a document value (`undefined` = absent), as the server
 * does: `put` replaces, `patch` merges onto the value (`{}` when absent),
 * `delete` removes. `if_version` is the server's business.
 */
export function applyOp(value, op) {
  switch (op.op) {
    case 'put':
      return clone(op.value);
    case 'patch':
      return mergePatch(value === undefined ? {} : value, op.value);
    case 'delete':
      return undefined;
    default:
      throw new TypeError(`unknown op ${op.op}`);
  }
}

/**
 * Folds a second write of the same document into the first, so a debounced
 * burst becomes one op: put+put = the last put, put+patch = the patched put,
 * patch+patch = the composed patch (all keeping the first op's `if_version`).
 * Returns null when they cannot fold (a delete, a second `if_version`, or
 * patches no single merge patch expresses).
 */
export function coalesceOp(prev, next) {
  if (!prev || prev.collection !== next.collection || prev.id !== next.id) return null;
  if (next.if_version !== undefined) return null; // judged against the server, never the queue
  if (prev.op === 'delete' || next.op === 'delete') return null;
  const base = { collection: prev.collection, id: prev.id };
  const keep = (op) => (prev.if_version === undefined ? op : { ...op, if_version: prev.if_version });
  if (next.op === 'put') return keep({ op: 'put', ...base, value: clone(next.value) });
  if (prev.op === 'put') {
    const value = mergePatch(prev.value, next.value);
    return value === null || value === undefined ? null : keep({ op: 'put', ...base, value });
  }
  const value = composePatches(prev.value, next.value);
  return value === undefined ? null : keep({ op: 'patch', ...base, value });
}

/**
 * A document as the user sees it: the server's `base` doc (or null) with the
 * pending `ops` for it applied in order. Returns null when the result is
 * absent; an optimistic result carries `pending: true` and the base version.
 */
export function rebaseDoc(base, ops) {
  if (!ops || ops.length === 0) return base || null;
  let value = base ? base.value : undefined;
  for (const op of ops) value = applyOp(value, op);
  if (value === undefined) return null;
  return { collection: ops[0].collection, id: ops[0].id, version: base ? base.version : 0, value, pending: true };
}

/**
 * The whole optimistic view: server docs (`Map` docKey -> doc) with every
 * pending mutation (`[{ops}]`, oldest first) re-applied on top. This is what a
 * rollback computes: drop the rejected mutation from `pending` and rebase.
 */
export function rebase(docs, pending) {
  const byKey = new Map();
  for (const m of pending) {
    for (const op of m.ops) {
      const k = docKey(op.collection, op.id);
      if (!byKey.has(k)) byKey.set(k, []);
      byKey.get(k).push(op);
    }
  }
  const view = new Map(docs);
  for (const [k, ops] of byKey) {
    const d = rebaseDoc(docs.get(k), ops);
    if (d) view.set(k, d);
    else view.delete(k);
  }
  return view;
}

/** An empty space state: what a client holds before its first answer. */
export function emptyState() {
  return { epoch: null, version: 0, docs: new Map() };
}

/**
 * Applies one live event to a space state (in place). Returns `"applied"`,
 * `"duplicate"` (version already held: dropped) or `"gap"` (a version is
 * missing, or there is no epoch yet: resubscribe with the cursor).
 */
export function applyEvent(state, ev) {
  if (state.epoch === null) return 'gap';
  if (ev.version <= state.version) return 'duplicate';
  if (ev.version !== state.version + 1) return 'gap';
  const k = docKey(ev.collection, ev.id);
  if (ev.op === 'delete' || ev.value === null || ev.value === undefined) state.docs.delete(k);
  else state.docs.set(k, { collection: ev.collection, id: ev.id, version: ev.version, value: ev.value });
  state.version = ev.version;
  return 'applied';
}

/**
 * Applies a catch-up answer (`snapshot`, `events`, `up_to_date`; the kind is
 * `answer.kind` in POST /v1/sync and `answer.type` in frames) to a space state,
 * in place, as docs/protocol.md says:
 *  - snapshot: replaces everything (also on an epoch change); a snapshot of
 *    the same epoch older than what is held is a late answer and is ignored,
 *    unless `force` (the client asked from a null cursor);
 *  - events: applied in order, duplicates dropped by version; a hole
 *    (`from` past the held version, a missing version, `to` not reached) or
 *    another epoch is a gap;
 *  - up_to_date: nothing to do when it names the held version.
 * Returns `{status, changed, events, epochChanged, reset}`: `status` is
 * `applied`, `current`, `duplicate`, `stale` (late answer ignored) or `gap`
 * (resubscribe; with `reset`, from a null cursor); `changed` lists the docKeys
 * that may differ; `events` the events applied.
 */
export function applyCatchUp(state, answer, { force = false } = {}) {
  const kind = answer.kind || answer.type;
  const out = (status, extra = {}) => ({ status, changed: [], events: [], epochChanged: false, reset: false, ...extra });
  if (kind === 'snapshot') {
    if (!force && state.epoch === answer.epoch && answer.version < state.version) return out('stale');
    const changed = new Set(state.docs.keys());
    const docs = new Map();
    for (const d of answer.docs || []) {
      if (d.value === null || d.value === undefined) continue; // snapshots list live docs only
      const k = docKey(d.collection, d.id);
      docs.set(k, { collection: d.collection, id: d.id, version: d.version, value: d.value });
      changed.add(k);
    }
    const epochChanged = state.epoch !== null && state.epoch !== answer.epoch;
    state.epoch = answer.epoch;
    state.version = answer.version;
    state.docs = docs;
    return out('applied', { changed: [...changed], epochChanged });
  }
  if (kind === 'events') {
    if (state.epoch !== answer.epoch) return out('gap', { reset: true });
    if (answer.from > state.version) return out('gap');
    const changed = [];
    const events = [];
    for (const ev of answer.events || []) {
      const r = applyEvent(state, ev);
      if (r === 'gap') return out('gap', { changed, events });
      if (r === 'applied') {
        changed.push(docKey(ev.collection, ev.id));
        events.push(ev);
      }
    }
    if (state.version < answer.to) return out('gap', { changed, events });
    return out(events.length ? 'applied' : 'duplicate', { changed, events });
  }
  if (kind === 'up_to_date') {
    if (state.epoch !== answer.epoch) return out('gap', { reset: true });
    if (answer.version > state.version) return out('gap');
    if (answer.version < state.version) return out('stale');
    return out('current');
  }
  if (kind === 'event') {
    const r = applyEvent(state, answer);
    if (r === 'applied') return out('applied', { changed: [docKey(answer.collection, answer.id)], events: [answer] });
    return out(r);
  }
  throw new TypeError(`unknown catch-up kind ${kind}`);
}

/** `{epoch, version}` -> `"EPOCH:VERSION"` (SSE ids and the `cursor` parameter). */
export function formatCursor(cursor) {
  return cursor ? `${cursor.epoch}:${cursor.version}` : '';
}

/** `"EPOCH:VERSION"` -> `{epoch, version}`, or null. */
export function parseCursor(s) {
  if (typeof s !== 'string') return null;
  const i = s.lastIndexOf(':');
  if (i <= 0) return null;
  const version = Number(s.slice(i + 1));
  return Number.isSafeInteger(version) && version >= 0 ? { epoch: s.slice(0, i), version } : null;
}

/** The claims of a JWT (not verified: only `sub` and `exp` are read), or null. */
export function decodeJwt(token) {
  if (typeof token !== 'string') return null;
  const parts = token.split('.');
  if (parts.length < 2) return null;
  try {
    let b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    while (b64.length % 4) b64 += '=';
    const bin = atob(b64);
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return isObject(claims) ? claims : null;
  } catch {
    return null;
  }
}

/**
 * Checks an op before it is queued (the server checks again): collection
 * `[a-z0-9_]{1,64}`, id 1-512 bytes, a non-null JSON value for `put`, a JSON
 * value for `patch`, a non-negative integer `if_version`. Returns an error
 * message or null.
 */
export function validateOp(op) {
  if (!['put', 'patch', 'delete'].includes(op.op)) return `unknown op ${op.op}`;
  if (typeof op.collection !== 'string' || !COLLECTION_RE.test(op.collection)) return 'collection must match [a-z0-9_]{1,64}';
  if (typeof op.id !== 'string' || op.id.length === 0 || utf8Length(op.id) > 512) return 'document id must be 1 to 512 bytes';
  if (op.op === 'put' && (op.value === undefined || op.value === null)) return 'put needs a non-null value (use delete)';
  if (op.op === 'patch' && op.value === undefined) return 'patch needs a merge patch';
  if (op.if_version !== undefined && !(Number.isSafeInteger(op.if_version) && op.if_version >= 0)) return 'ifVersion must be a non-negative integer';
  if (op.value !== undefined) {
    try {
      JSON.stringify(op.value);
    } catch {
      return 'value must be JSON';
    }
  }
  return null;
}

/**
 * The pending mutations of one client id, in order. Mutation ids are given at
 * enqueue time and increase by one for ever (the server rejects an id that
 * skips ahead), so an entry is never dropped before the server has answered.
 *
 * Debounce: a write with `debounceMs` folds into the queue's tail when that
 * tail is a still-waiting debounced write of the same document in the same
 * space (its window restarts); anything queued behind a waiting entry ends the
 * wait, so order is kept and nothing waits longer than it must. Entries are
 * sent strictly in order: `sendable()` stops at the first one still waiting.
 *
 * Entries are plain JSON (persisted as they are):
 * `{clientId, mutationId, space, ops, createdAt, notBefore, debounce, sent,
 *   attempts, retryAt, ackVersion}`; `ackVersion` is set once acknowledged
 * (the entry then only waits for the server state to catch up).
 */
export class MutationQueue {
  constructor({ clientId, nextId = 1, entries = [], maxOps = DEFAULTS.maxOpsPerMutation } = {}) {
    this.clientId = clientId;
    this.entries = entries.map((e) => ({ ...e, clientId }));
    const top = this.entries.reduce((m, e) => Math.max(m, e.mutationId), 0);
    this.nextId = Math.max(Number(nextId) || 1, top + 1);
    this.maxOps = maxOps;
  }

  /** Entries not yet acknowledged. */
  get pending() {
    return this.entries.filter((e) => e.ackVersion == null);
  }

  /** Queues `op` for `space`. Returns `{entry, coalesced}`. */
  enqueue({ space, op, debounceMs = 0, now = Date.now() }) {
    const tail = this.entries[this.entries.length - 1];
    if (debounceMs > 0 && tail && tail.debounce && !tail.sent && tail.ackVersion == null && tail.space === space && now < tail.notBefore) {
      const ops = foldInto(tail.ops, op, this.maxOps);
      if (ops) {
        tail.ops = ops;
        tail.notBefore = now + debounceMs;
        return { entry: tail, coalesced: true };
      }
    }
    if (tail && !tail.sent && tail.notBefore > now) tail.notBefore = now;
    const entry = {
      clientId: this.clientId,
      mutationId: this.nextId++,
      space,
      ops: [op],
      createdAt: now,
      notBefore: debounceMs > 0 ? now + debounceMs : now,
      debounce: debounceMs > 0,
      sent: false,
      attempts: 0,
      retryAt: 0,
      ackVersion: null,
    };
    this.entries.push(entry);
    return { entry, coalesced: false };
  }

  /** The unacknowledged entries that may be sent at `now`, in order. */
  sendable(now = Date.now()) {
    const out = [];
    for (const e of this.entries) {
      if (e.ackVersion != null) continue;
      if (e.notBefore > now || e.retryAt > now) break;
      out.push(e);
    }
    return out;
  }

  /** When the first waiting entry becomes sendable, or null. */
  nextWakeAt() {
    for (const e of this.entries) {
      if (e.ackVersion != null) continue;
      return Math.max(e.notBefore, e.retryAt);
    }
    return null;
  }

  get(mutationId) {
    return this.entries.find((e) => e.mutationId === mutationId);
  }

  remove(mutationId) {
    const i = this.entries.findIndex((e) => e.mutationId === mutationId);
    if (i < 0) return null;
    return this.entries.splice(i, 1)[0];
  }

  /** Ends every debounce window (page hidden, closing). */
  flushDebounce(now = Date.now()) {
    for (const e of this.entries) if (!e.sent && e.notBefore > now) e.notBefore = now;
  }

  /**
   * Moves the unacknowledged entries to a new client id, numbered from
   * `startId` (after `out_of_order`: the server lost track of the old id).
   * Acknowledged entries are dropped. Returns `[{oldId, entry}]`.
   */
  renumber(clientId, startId = 1) {
    const moved = [];
    this.clientId = clientId;
    this.nextId = startId;
    this.entries = this.entries.filter((e) => e.ackVersion == null);
    for (const e of this.entries) {
      moved.push({ oldId: e.mutationId, entry: e });
      e.clientId = clientId;
      e.mutationId = this.nextId++;
      e.sent = false;
      e.attempts = 0;
      e.retryAt = 0;
    }
    return moved;
  }

  toJSON() {
    return { nextId: this.nextId, entries: this.entries };
  }
}

/** Folds `op` into a debouncing entry's ops (all of one document), or null. */
function foldInto(ops, op, maxOps) {
  if (!ops.every((o) => o.collection === op.collection && o.id === op.id)) return null;
  const merged = coalesceOp(ops[ops.length - 1], op);
  if (merged) return [...ops.slice(0, -1), merged];
  // Patches no single merge patch expresses still share the mutation: the
  // server applies a mutation's ops in order.
  if (op.op === 'patch' && op.if_version === undefined && ops.length < maxOps) return [...ops, op];
  return null;
}

// ───────────────────────────── 3. persistence helpers ────────────────────────

/** A Storage-like map in memory (the default where there is no localStorage). */
export class MemoryStorage {
  constructor() {
    this.map = new Map();
  }
  getItem(k) {
    return this.map.has(k) ? this.map.get(k) : null;
  }
  setItem(k, v) {
    this.map.set(k, String(v));
  }
  removeItem(k) {
    this.map.delete(k);
  }
  get length() {
    return this.map.size;
  }
  key(i) {
    return [...this.map.keys()][i] ?? null;
  }
  clear() {
    this.map.clear();
  }
}

function defaultStorage() {
  try {
    const ls = globalThis.localStorage;
    if (ls) {
      const probe = '__tidemark_probe__';
      ls.setItem(probe, '1');
      ls.removeItem(probe);
      return ls;
    }
  } catch {
    // private mode, disabled storage: fall through
  }
  return new MemoryStorage();
}

/** Turns `url` into `{http, ws}` bases without a trailing slash. */
export function baseUrls(url) {
  let u = String(url || '').replace(/\/+$/, '');
  if (u.startsWith('ws://')) u = 'http://' + u.slice(5);
  else if (u.startsWith('wss://')) u = 'https://' + u.slice(6);
  const ws = u.startsWith('https://') ? 'wss://' + u.slice(8) : u.startsWith('http://') ? 'ws://' + u.slice(7) : u;
  return { http: u, ws };
}

// ───────────────────────────── 4. Space ──────────────────────────────────────

/**
 * One space as this client holds it. Obtained from `client.space(name)`.
 * `_data` is the confirmed server state; `_view` is what the user sees
 * (server state + pending writes of this and other tabs).
 */
class Space {
  constructor(client, name) {
    this._client = client;
    this.name = name;
    this._data = emptyState();
    /** Docs learned from a reject's `current`, newer than `_data.version`. */
    this._ahead = new Map();
    this._view = new Map();
    this._handlers = new Set();
    this._synced = false; // answered on the current transport, no gap open
    this._forceSnapshot = false; // next subscription from a null cursor
    this._resyncs = 0;
    this._behind = 0;
    this.lastSyncedMs = null; // restored from storage at attach, then set on every confirmation
    this._lastSavedSyncMs = 0; // the lastSyncedMs value last written to storage
    this.error = null;
  }

  /** What this client holds: `{epoch, version}`, or null before any answer. */
  get cursor() {
    if (this._forceSnapshot || this._data.epoch === null) return null;
    return { epoch: this._data.epoch, version: this._data.version };
  }

  get epoch() {
    return this._data.epoch;
  }

  get version() {
    return this._data.version;
  }

  /** The value of a document (a copy), or undefined. */
  get(collection, id) {
    const d = this._view.get(docKey(collection, id));
    return d ? clone(d.value) : undefined;
  }

  /** The document with its version (`{collection, id, version, value, pending?}`), or undefined. */
  doc(collection, id) {
    const d = this._view.get(docKey(collection, id));
    return d ? publicDoc(d) : undefined;
  }

  /** The documents of a collection, sorted by id. */
  list(collection) {
    const prefix = collection + '/';
    const out = [];
    for (const [k, d] of this._view) if (k.startsWith(prefix)) out.push(publicDoc(d));
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** `on('change', fn)`: fn({space, source, changes: [{collection, id, value, previous}]}). Returns an unsubscribe function. */
  on(type, fn) {
    if (type !== 'change') throw new TypeError(`unknown event ${type}`);
    this._handlers.add(fn);
    return () => this._handlers.delete(fn);
  }

  off(type, fn) {
    this._handlers.delete(fn);
  }

  /** Replaces a document. `{ifVersion}`: only if it is at that version (0: absent); `{debounceMs}`: fold quick successive writes. */
  put(collection, id, value, opts = {}) {
    return this._write('put', collection, id, value, opts);
  }

  /** RFC 7396 merge patch onto the document (`{}` when absent). `{debounceMs}` folds quick successive patches into one mutation. */
  patch(collection, id, mergePatchValue, opts = {}) {
    return this._write('patch', collection, id, mergePatchValue, opts);
  }

  /** Deletes a document. `{ifVersion}` as for put. */
  delete(collection, id, opts = {}) {
    return this._write('delete', collection, id, undefined, { ifVersion: opts && opts.ifVersion });
  }

  _write(kind, collection, id, value, opts) {
    const o = opts || {};
    let op;
    try {
      op = { op: kind, collection, id };
      if (kind !== 'delete') op.value = clone(value);
    } catch (e) {
      return Promise.reject(new TidemarkError('invalid', `value must be JSON: ${e.message}`));
    }
    if (o.ifVersion !== undefined) op.if_version = o.ifVersion;
    return this._client._mutate(this, op, o);
  }

  _emit(ev) {
    for (const fn of [...this._handlers]) {
      try {
        fn(ev);
      } catch (e) {
        console.error('tidemark: change handler failed', e);
      }
    }
  }

  /** The server doc a view is built on: `_data`, or a newer doc from a reject. */
  _baseDoc(k) {
    const a = this._ahead.get(k);
    if (a && a.version > this._data.version) return a.value === null ? null : a;
    return this._data.docs.get(k) || null;
  }
}

function publicDoc(d) {
  const out = { collection: d.collection, id: d.id, version: d.version, value: clone(d.value) };
  if (d.pending) out.pending = true;
  return out;
}

// ───────────────────────────── 5. TidemarkClient ─────────────────────────────

/**
 * A connection to a tidemark server for one user (the token's `sub`).
 *
 * Options: `url` (http(s) or ws(s) base; default the page's origin), `token`
 * (string or async function returning one), `clientId` (fixed client id; by
 * default each tab takes a free id of this user from storage, with its
 * counter and queue), `storage` (Storage-like; default localStorage, `null`
 * for memory only), `staleAfterMs`, `transports` (subset of
 * `['websocket','sse','poll']`, in order), any key of `DEFAULTS`, and `env`
 * (injected globals for tests: WebSocket, EventSource, fetch,
 * BroadcastChannel, locks, window, now, setTimeout, clearTimeout, random).
 */
export class TidemarkClient {
  constructor(options = {}) {
    if (!options.token) throw new TypeError('TidemarkClient needs a token (string or async function)');
    this._opt = { ...DEFAULTS, ...options };
    const g = globalThis;
    const env = options.env || {};
    this._env = {
      now: env.now || (() => Date.now()),
      setTimeout: env.setTimeout || ((f, ms) => g.setTimeout(f, ms)),
      clearTimeout: env.clearTimeout || ((h) => g.clearTimeout(h)),
      random: env.random || Math.random,
      WebSocket: 'WebSocket' in env ? env.WebSocket : g.WebSocket,
      EventSource: 'EventSource' in env ? env.EventSource : g.EventSource,
      fetch: 'fetch' in env ? env.fetch : g.fetch ? g.fetch.bind(g) : undefined,
      BroadcastChannel: 'BroadcastChannel' in env ? env.BroadcastChannel : g.BroadcastChannel,
      locks: 'locks' in env ? env.locks : g.navigator && g.navigator.locks,
      window: 'window' in env ? env.window : g.window,
    };
    const bases = baseUrls(options.url !== undefined ? options.url : g.location && g.location.origin);
    this._http = bases.http;
    this._wsBase = bases.ws;
    const wanted = options.transports ? [...options.transports] : [...TRANSPORTS];
    this._transports = wanted.filter((t) => TRANSPORTS.includes(t));
    if (this._transports.length === 0) throw new TypeError('transports must name websocket, sse or poll');
    this._storage = options.storage === undefined ? defaultStorage() : options.storage || new MemoryStorage();
    this._tabId = randomId('t-');

    /** Public state. */
    this.status = 'connecting';
    this.transport = this._transports[0];
    this.user = null;
    this.clientId = null;
    this.error = null;

    this._handlers = { status: new Set(), error: new Set() };
    this._spaces = new Map(); // real name (or `user:me` until known) -> Space
    this._overlay = new Map(); // "cid:mid" -> pending entry (own and other tabs')
    this._early = []; // writes made before this tab has a client id
    this._earlySeq = 0;
    this._waiters = new Map(); // "cid:mid" -> [{resolve, reject}]
    this._slots = new Map(); // client ids this tab holds: cid -> slot
    this._main = null; // the slot new writes go to
    this._timers = new Map();
    this._lockReleases = new Map();
    this._prefix = null; // storage key prefix, once the user is known
    this._bc = null;
    this._mode = this._transports[0];
    this._ws = null;
    this._wsFailures = 0;
    this._authFailures = 0;
    this._streams = new Map();
    this._sseFailures = 0;
    this._sseCheckOk = true;
    this._pollGen = 0;
    this._pollAbort = null;
    this._httpLive = false;
    this._httpFailures = 0;
    this._syncP = null;
    this._syncAgain = false;
    this._forcing = 0;
    this._syncWaiters = [];
    this._everSynced = false; // synced in this session
    this._attemptFailed = false; // a connection attempt has failed (or the page went offline)
    this._fatal = null;
    this._closed = false;
    this._started = false;
    this._tok = null;
    this._tokP = null;
    this._abort = typeof AbortController === 'function' ? new AbortController() : null;
    this._dirty = new Set();
    this._lastStatusKey = '';
    this._startAttempts = 0;

    // A string token names the user at once, so cached state shows at once.
    if (typeof options.token === 'string') {
      this._tok = { token: options.token, exp: (decodeJwt(options.token) || {}).exp };
      this._setUser(decodeJwt(options.token));
    }
    this._listenWindow();
    this._start();
  }

  // ── public surface ─────────────────────────────────────────────────────────

  /** The space `name` (`user:me`, `user:{id}`, `catalog`); one object per space. */
  space(name) {
    if (typeof name !== 'string' || !name) throw new TypeError('space name must be a non-empty string');
    const real = this._resolveName(name);
    let s = this._spaces.get(real);
    if (s) return s;
    s = new Space(this, real);
    this._spaces.set(real, s);
    if (this._prefix) this._attach(s);
    return s;
  }

  /**
   * When every open space was last confirmed current (Date), or null. Stored
   * with the cached state, so after a reload it is known before any connection.
   */
  get lastSynced() {
    let min = null;
    for (const s of this._spaces.values()) {
      if (s.lastSyncedMs === null) return null;
      min = min === null ? s.lastSyncedMs : Math.min(min, s.lastSyncedMs);
    }
    return min === null ? null : new Date(min);
  }

  isStale(now = this._now()) {
    return isStale(this.lastSynced, now, this._opt.staleAfterMs);
  }

  lastSyncedRelative(now = this._now()) {
    return relativeTime(this.lastSynced, now, this._opt.staleAfterMs);
  }

  /** Number of this tab's writes not yet acknowledged. */
  get pendingCount() {
    let n = this._early.length;
    for (const slot of this._slots.values()) n += slot.queue.pending.length;
    return n;
  }

  /**
   * `on('status', fn(status, {transport, lastSynced, error}))`, or
   * `on('error', fn(error))`. Returns an unsubscribe function.
   */
  on(type, fn) {
    const set = this._handlers[type];
    if (!set) throw new TypeError(`unknown event ${type}`);
    set.add(fn);
    return () => set.delete(fn);
  }

  off(type, fn) {
    if (this._handlers[type]) this._handlers[type].delete(fn);
  }

  /**
   * Pulls the latest state now (the seeds' refresh button): resubscribes with
   * the cursors, reconnects at once if disconnected, and resolves once every
   * space is confirmed current (rejects after `syncTimeoutMs`).
   */
  async forceSync() {
    if (this._closed) throw new TidemarkError('closed', 'the client is closed');
    if (this._fatal) {
      this._fatal = null;
      this.error = null;
      this._authFailures = 0;
      if (!this._started) this._start();
    }
    for (const s of this._spaces.values()) s.error = null;
    this._forcing++;
    this._updateStatus();
    try {
      const conn = this._ws;
      if (this._mode === 'websocket' && conn && conn.welcomed) {
        // Resubscribe with the cursors: each space answers afresh.
        this._sendHello(conn, [...this._spaces.values()]);
      } else if (this._started && this._env.fetch) {
        // Reconnect now, and pull over HTTP meanwhile: its answer is the fresh state.
        this._kick();
        try {
          await this._requestSync({ mutations: this._mode !== 'websocket' });
          return;
        } catch {
          // unreachable over HTTP too: wait for whichever transport comes back
        }
      }
      await this._waitSynced(this._opt.syncTimeoutMs);
    } finally {
      this._forcing--;
      this._updateStatus();
    }
  }

  /** Closes connections and releases this tab's client ids. Queued writes stay in storage for the next client. */
  close() {
    if (this._closed) return;
    this._saveAll();
    for (const s of this._spaces.values()) this._saveSynced(s);
    for (const slot of this._slots.values()) this._persistQueue(slot);
    this._closed = true;
    for (const h of this._timers.values()) this._env.clearTimeout(h);
    this._timers.clear();
    if (this._ws) {
      try {
        this._ws.ws.close(1000, 'client closed');
      } catch {
        // already closed
      }
      this._ws = null;
    }
    this._closeStreams();
    this._pollGen++;
    if (this._pollAbort) this._pollAbort.abort();
    if (this._abort) this._abort.abort();
    this._broadcast({ t: 'bye' });
    if (this._bc) {
      try {
        this._bc.close();
      } catch {
        // ignore
      }
      this._bc = null;
    }
    for (const cid of [...this._slots.keys()]) this._unlock(cid);
    this._slots.clear();
    const err = new TidemarkError('closed', 'the client was closed; the write stays queued for the next client of this user', { queued: true });
    for (const list of this._waiters.values()) for (const w of list) w.reject(err);
    this._waiters.clear();
    for (const e of this._early) e.waiter.reject(err);
    this._early = [];
    this._unlistenWindow();
    for (const w of this._syncWaiters) w.reject(err);
    this._syncWaiters = [];
    this._updateStatus();
  }

  // ── start-up, user, cache ──────────────────────────────────────────────────

  _now() {
    return this._env.now();
  }

  _timer(name, ms, fn) {
    this._clearTimer(name);
    if (this._closed) return;
    const h = this._env.setTimeout(() => {
      if (this._timers.get(name) === h) this._timers.delete(name);
      fn();
    }, Math.max(0, ms));
    this._timers.set(name, h);
  }

  _clearTimer(name) {
    const h = this._timers.get(name);
    if (h !== undefined) {
      this._env.clearTimeout(h);
      this._timers.delete(name);
    }
  }

  _backoff(attempt) {
    return backoffDelay(attempt, { baseMs: this._opt.backoffBaseMs, maxMs: this._opt.backoffMaxMs, random: this._env.random });
  }

  async _start() {
    if (this._closed || this._started || this._starting) return;
    this._starting = true;
    try {
      const token = await this._token(false);
      if (this._closed) return;
      this._fatal = null;
      this.error = null;
      if (!this._prefix) this._setUser(decodeJwt(token));
      this._openChannel();
      await this._acquireMain();
      if (this._closed) return;
      this._started = true;
      this._startAttempts = 0;
      this._moveEarly();
      this._timer('lease', this._opt.leaseRenewMs, () => this._leaseTick());
      this._scanOrphans();
      this._connect();
      this._pump();
    } catch (e) {
      this._setFatal(e);
      this._timer('start', this._backoff(this._startAttempts++), () => this._start());
    } finally {
      this._starting = false;
    }
  }

  _resolveName(name) {
    if (name === 'user:me' && this.user !== null && this.user !== undefined && this._userKnown) return `user:${this.user}`;
    return name;
  }

  /** Fixes the user (from the token's claims), the storage prefix, and loads cached state. */
  _setUser(claims) {
    const sub = claims && typeof claims.sub === 'string' ? claims.sub : null;
    this._userKnown = sub !== null;
    this.user = sub;
    this._prefix = `tidemark:v1:${hash32(this._http)}:${sub === null ? '~' : sub}:`;
    // `user:me` opened before the user was known gets its real name.
    const me = this._spaces.get('user:me');
    if (me && this._userKnown) this._renameSpace(me, `user:${sub}`);
    this._loadStoredOverlay();
    for (const s of this._spaces.values()) this._attach(s);
  }

  _renameSpace(space, real) {
    const old = space.name;
    if (old === real) return;
    this._spaces.delete(old);
    space.name = real;
    this._spaces.set(real, space);
    for (const e of this._overlay.values()) if (e.space === old) e.space = real;
    for (const slot of this._slots.values()) for (const e of slot.queue.entries) if (e.space === old) e.space = real;
    for (const e of this._early) if (e.space === old) e.space = real;
  }

  /** Loads a space's cache and subscribes it (when a transport runs). */
  _attach(space) {
    this._loadCache(space);
    this._recompute(space, null, 'cache');
    if (this._started) this._subscribe(space);
  }

  _key(kind, name) {
    return this._prefix + kind + (name === undefined ? '' : ':' + name);
  }

  _read(key) {
    try {
      const raw = this._storage.getItem(key);
      return raw === null || raw === undefined ? null : JSON.parse(raw);
    } catch {
      return null;
    }
  }

  _write(key, value) {
    try {
      if (value === null) this._storage.removeItem(key);
      else this._storage.setItem(key, JSON.stringify(value));
      return true;
    } catch (e) {
      if (!this._warnedStorage) {
        this._warnedStorage = true;
        console.warn('tidemark: could not write to storage', e);
      }
      return false;
    }
  }

  _loadCache(space) {
    const c = this._read(this._key('s', space.name));
    if (c && typeof c.epoch === 'string' && Number.isSafeInteger(c.version) && Array.isArray(c.docs)) {
      space._data = { epoch: c.epoch, version: c.version, docs: new Map(c.docs.map((d) => [docKey(d.collection, d.id), d])) };
    }
    const t = this._read(this._key('t', space.name));
    if (typeof t === 'number' && Number.isFinite(t)) {
      space.lastSyncedMs = t;
      space._lastSavedSyncMs = t;
    }
  }

  _scheduleSave(space) {
    this._dirty.add(space);
    if (!this._timers.has('save')) this._timer('save', this._opt.saveDelayMs, () => this._saveAll());
  }

  _saveAll() {
    if (!this._prefix) return;
    this._clearTimer('save');
    for (const s of this._dirty) {
      if (s._data.epoch === null) continue;
      this._write(this._key('s', s.name), { epoch: s._data.epoch, version: s._data.version, docs: [...s._data.docs.values()] });
    }
    this._dirty.clear();
  }

  /**
   * Marks a space confirmed current now (lastSynced), persisting it at most
   * every 5 s; every status change (reaching `synced` among them) and close()
   * write the latest value too (see {@link _saveSynced}).
   */
  _touch(space) {
    const now = this._now();
    space.lastSyncedMs = now;
    if (now - space._lastSavedSyncMs >= 5_000) this._saveSynced(space);
  }

  /**
   * Writes a space's lastSynced to storage (per user and space, next to its
   * cached state), so a reload knows how old its cached data is before any
   * connection. Never moves the stored time back: another tab of the user may
   * have confirmed the space more recently.
   */
  _saveSynced(space) {
    const t = space.lastSyncedMs;
    if (!this._prefix || t === null || t === space._lastSavedSyncMs) return;
    space._lastSavedSyncMs = t;
    const key = this._key('t', space.name);
    const stored = this._read(key);
    if (typeof stored === 'number' && stored >= t) return;
    this._write(key, t);
  }

  /** True when some open space shows data from the cache or from an earlier sync. */
  _hasCachedData() {
    for (const s of this._spaces.values()) if (s._data.epoch !== null || s.lastSyncedMs !== null) return true;
    return false;
  }

  /** A connection attempt failed (any transport), or the page went offline. */
  _noteFailure() {
    this._attemptFailed = true;
  }

  // ── tokens ─────────────────────────────────────────────────────────────────

  /** The current token; a function token is called again near `exp`, or when `force`d. */
  async _token(force) {
    const src = this._opt.token;
    if (typeof src === 'string') return src;
    const fresh = this._tok && (this._tok.exp === undefined || this._tok.exp * 1000 - this._now() > 30_000);
    if (!force && fresh) return this._tok.token;
    if (!this._tokP) {
      this._tokP = (async () => {
        try {
          const t = await src();
          if (typeof t !== 'string' || !t) throw new TidemarkError('unauthorized', 'the token function returned no token');
          const claims = decodeJwt(t) || {};
          this._tok = { token: t, exp: typeof claims.exp === 'number' ? claims.exp : undefined };
          this._scheduleTokenRefresh();
          return t;
        } finally {
          this._tokP = null;
        }
      })();
    }
    return this._tokP;
  }

  _scheduleTokenRefresh() {
    if (!this._tok || this._tok.exp === undefined) return;
    const left = this._tok.exp * 1000 - this._now();
    const margin = Math.min(this._opt.tokenRefreshMarginMs, left / 2);
    this._timer('token', left - margin, () => this._refreshToken());
  }

  /** Fetches a new token and hands it to the live transport. */
  async _refreshToken() {
    try {
      const t = await this._token(true);
      const conn = this._ws;
      if (conn && conn.welcomed) this._wsSend(conn, { type: 'auth', token: t });
      if (this._mode === 'sse') for (const s of this._spaces.values()) this._openStream(s);
    } catch (e) {
      this._emitError(e);
      this._timer('token', this._backoff(2), () => this._refreshToken());
    }
  }

  // ── client-id slots: which tab sends which queue ───────────────────────────
  //
  // A client id owns a mutation counter and a queue in storage. Each tab holds
  // one "main" id (new writes go there), taken with a lock: the Web Locks API
  // where there is one (released by the browser when a tab dies), else a lease
  // in storage renewed every `leaseRenewMs`. A tab prefers a free id with a
  // non-empty queue, so a closed tab's writes are sent by the next tab; other
  // free ids with queued writes are adopted as extra slots and flushed over
  // POST /v1/sync (which takes a client_id per mutation), then released.

  _clientIds() {
    const list = this._read(this._key('clients'));
    return Array.isArray(list) ? list.filter((x) => typeof x === 'string') : [];
  }

  _rememberClientId(cid) {
    const list = this._clientIds();
    if (!list.includes(cid)) {
      list.push(cid);
      this._write(this._key('clients'), list);
    }
  }

  _forgetClientId(cid) {
    const list = this._clientIds().filter((x) => x !== cid);
    this._write(this._key('clients'), list);
  }

  _storedQueue(cid) {
    const q = this._read(this._key('q', cid));
    return q && Array.isArray(q.entries) ? q : { nextId: 1, entries: [] };
  }

  _persistQueue(slot) {
    if (!this._prefix) return;
    const q = slot.queue;
    // The counter is kept apart and never goes down, even if the queue is lost.
    const n = Number(this._read(this._key('n', slot.cid))) || 0;
    if (q.nextId > n) this._write(this._key('n', slot.cid), q.nextId);
    this._write(this._key('q', slot.cid), q.entries.length ? q.toJSON() : null);
  }

  async _lock(cid) {
    const locks = this._env.locks;
    if (locks && typeof locks.request === 'function') {
      return new Promise((resolve) => {
        locks
          .request(this._key('lock', cid), { ifAvailable: true }, (lock) => {
            if (!lock) {
              resolve(false);
              return undefined;
            }
            resolve(true);
            return new Promise((release) => this._lockReleases.set(cid, release));
          })
          .catch(() => resolve(false));
      });
    }
    return this._tryLease(cid);
  }

  _unlock(cid) {
    const release = this._lockReleases.get(cid);
    if (release) {
      this._lockReleases.delete(cid);
      release();
      return;
    }
    const key = this._key('lease', cid);
    const cur = this._read(key);
    if (cur && cur.tab === this._tabId) this._write(key, null);
  }

  _tryLease(cid) {
    const key = this._key('lease', cid);
    const now = this._now();
    const cur = this._read(key);
    if (cur && cur.tab !== this._tabId && cur.exp > now) return false;
    this._write(key, { tab: this._tabId, exp: now + this._opt.leaseTtlMs });
    const back = this._read(key);
    return !!back && back.tab === this._tabId;
  }

  _newSlot(cid, main) {
    const stored = this._storedQueue(cid);
    const n = Number(this._read(this._key('n', cid))) || 1;
    const queue = new MutationQueue({ clientId: cid, nextId: Math.max(n, stored.nextId || 1), entries: stored.entries, maxOps: this._opt.maxOpsPerMutation });
    const slot = { cid, queue, main, sentOnConn: new Set(), httpBusy: false, single: false, forceHttp: false };
    this._slots.set(cid, slot);
    for (const e of queue.entries) this._overlay.set(`${cid}:${e.mutationId}`, e);
    if (main) {
      this._main = slot;
      this.clientId = cid;
    }
    this._rememberClientId(cid);
    return slot;
  }

  async _acquireMain() {
    if (this._main) return this._main;
    const fixed = this._opt.clientId;
    if (fixed) {
      if (!(await this._lock(fixed))) console.warn(`tidemark: client id ${fixed} is in use by another tab`);
      const slot = this._newSlot(fixed, true);
      slot.fixed = true;
      return slot;
    }
    const ids = this._clientIds();
    const withQueue = ids.filter((c) => this._storedQueue(c).entries.length > 0);
    for (const cid of [...withQueue, ...ids.filter((c) => !withQueue.includes(c))]) {
      if (this._slots.has(cid)) continue;
      if (await this._lock(cid)) return this._newSlot(cid, true);
    }
    const cid = randomId('c-');
    await this._lock(cid);
    return this._newSlot(cid, true);
  }

  /** Adopts free client ids that still have queued writes (a closed tab's). */
  async _scanOrphans() {
    if (this._closed || !this._started || this._scanning) return;
    this._scanning = true;
    try {
      for (const cid of this._clientIds()) {
        if (this._slots.has(cid) || this._storedQueue(cid).entries.length === 0) continue;
        if (!(await this._lock(cid))) continue;
        if (this._closed) return;
        const slot = this._newSlot(cid, false);
        for (const e of slot.queue.entries) this._recomputeEntry(e, 'tab');
      }
    } finally {
      this._scanning = false;
    }
    this._pump();
  }

  /** Renews storage leases, re-checks them, adopts orphans, reconciles other tabs' pending writes. */
  _leaseTick() {
    if (this._closed) return;
    for (const [cid, slot] of [...this._slots]) {
      if (this._lockReleases.has(cid)) continue;
      const cur = this._read(this._key('lease', cid));
      if (!slot.fixed && cur && cur.tab !== this._tabId && cur.exp > this._now()) {
        this._loseSlot(slot); // another tab took it (this one was asleep too long)
        continue;
      }
      this._write(this._key('lease', cid), { tab: this._tabId, exp: this._now() + this._opt.leaseTtlMs });
      this._rememberClientId(cid);
    }
    this._reconcileOverlay();
    this._scanOrphans();
    this._timer('lease', this._opt.leaseRenewMs, () => this._leaseTick());
  }

  /** A slot whose lease was taken over: its new owner sends it and broadcasts the results. */
  _loseSlot(slot) {
    this._slots.delete(slot.cid);
    if (slot === this._main) {
      this._main = null;
      this.clientId = null;
      this._acquireMain().then(() => {
        this._moveEarly();
        if (this._ws) this._dropWs(this._ws, 4000, 'client id changed');
        this._pump();
      });
    }
  }

  /** Drops other tabs' pending entries no longer in storage (missed broadcasts). */
  _reconcileOverlay() {
    const stored = new Map();
    for (const [key, e] of [...this._overlay]) {
      if (e.clientId === null || this._slots.has(e.clientId)) continue;
      if (!stored.has(e.clientId)) stored.set(e.clientId, new Set(this._storedQueue(e.clientId).entries.map((x) => x.mutationId)));
      if (!stored.get(e.clientId).has(e.mutationId)) {
        this._overlay.delete(key);
        this._recomputeEntry(e, 'tab');
      }
    }
  }

  /** Every queue of this user in storage goes into the overlay (pending writes of closed or other tabs). */
  _loadStoredOverlay() {
    for (const cid of this._clientIds()) {
      for (const e of this._storedQueue(cid).entries) {
        const key = `${cid}:${e.mutationId}`;
        if (!this._overlay.has(key)) this._overlay.set(key, { ...e, clientId: cid });
      }
    }
  }

  // ── writes ─────────────────────────────────────────────────────────────────

  _mutate(space, op, opts) {
    if (this._closed) return Promise.reject(new TidemarkError('closed', 'the client is closed'));
    const bad = validateOp(op);
    if (bad) return Promise.reject(new TidemarkError('invalid', bad));
    const debounceMs = opts && opts.debounceMs > 0 ? opts.debounceMs : 0;
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      if (!this._main || !this._started) {
        // No client id yet (token or lock pending): shown at once, queued on start.
        const entry = { clientId: null, mutationId: ++this._earlySeq, space: space.name, ops: [op], debounceMs, waiter, ackVersion: null };
        this._early.push(entry);
        this._overlay.set(`early:${entry.mutationId}`, entry);
        this._recompute(space, [docKey(op.collection, op.id)], 'local');
        this._updateStatus();
        return;
      }
      this._enqueue(space.name, op, debounceMs, [waiter]);
    });
  }

  _moveEarly() {
    const early = this._early;
    this._early = [];
    for (const e of early) {
      this._overlay.delete(`early:${e.mutationId}`);
      this._enqueue(e.space, e.ops[0], e.debounceMs, [e.waiter]);
    }
  }

  _enqueue(spaceName, op, debounceMs, waiters) {
    const slot = this._main;
    const { entry } = slot.queue.enqueue({ space: spaceName, op, debounceMs, now: this._now() });
    this._persistQueue(slot);
    const key = `${slot.cid}:${entry.mutationId}`;
    this._overlay.set(key, entry);
    this._addWaiters(key, waiters);
    const space = this._spaces.get(spaceName);
    if (space) this._recompute(space, [docKey(op.collection, op.id)], 'local');
    this._broadcast({ t: 'pending', entry: wireEntry(entry) });
    this._updateStatus();
    this._pump();
  }

  _addWaiters(key, waiters) {
    if (!waiters.length) return;
    const list = this._waiters.get(key) || [];
    list.push(...waiters);
    this._waiters.set(key, list);
  }

  _settle(key, ok, value) {
    const list = this._waiters.get(key);
    if (!list) return;
    this._waiters.delete(key);
    for (const w of list) (ok ? w.resolve : w.reject)(value);
  }

  /**
   * Sends what may be sent: the main slot over the WebSocket (pipelined, at
   * most `maxInflight` unanswered) or over POST /v1/sync on the fallbacks;
   * adopted slots always over POST /v1/sync. Wakes itself when a debounce
   * window or a retry delay ends.
   */
  _pump() {
    if (this._closed || !this._started) return;
    const now = this._now();
    let wake = null;
    for (const slot of [...this._slots.values()]) {
      const ready = slot.queue.sendable(now);
      const at = slot.queue.nextWakeAt();
      if (at !== null && at > now) wake = wake === null ? at : Math.min(wake, at);
      if (!ready.length) continue;
      if (slot !== this._main) {
        if (!this._timers.has(`flush:${slot.cid}`)) this._flushSlot(slot);
        continue;
      }
      if (this._mode !== 'websocket') {
        // Fallbacks write over POST /v1/sync; after a failure, its retry timer sends.
        if (!this._timers.has('sync-retry')) this._requestSync({ mutations: true }).catch(() => {});
        continue;
      }
      const conn = this._ws;
      if (!conn || !conn.welcomed || slot.httpBusy) continue;
      const maxFrame = (conn.limits && conn.limits.max_frame_bytes) || Infinity;
      let dirty = false;
      for (const e of ready) {
        if (slot.sentOnConn.has(e.mutationId)) continue;
        if (slot.sentOnConn.size >= this._opt.maxInflight) break;
        const frame = JSON.stringify({ type: 'mutate', mutation_id: e.mutationId, space: e.space, ops: e.ops });
        if (slot.forceHttp || utf8Length(frame) > maxFrame) {
          // Too big for a frame: once the socket has nothing in flight, send over HTTP.
          if (slot.sentOnConn.size === 0 && !this._timers.has(`flush:${slot.cid}`)) this._flushSlot(slot);
          break;
        }
        if (!this._wsSendRaw(conn, frame)) break;
        slot.sentOnConn.add(e.mutationId);
        if (!e.sent) {
          e.sent = true;
          dirty = true;
        }
      }
      if (dirty) this._persistQueue(slot);
    }
    if (wake !== null) this._timer('pump', wake - now, () => this._pump());
    else this._clearTimer('pump');
  }

  /** Sends one slot's ready mutations over POST /v1/sync (one request in flight per slot). */
  async _flushSlot(slot) {
    if (slot.httpBusy || !this._env.fetch) return;
    this._clearTimer(`flush:${slot.cid}`);
    slot.httpBusy = true;
    try {
      const withCursors = this._mode !== 'websocket' && slot === this._main;
      await this._syncHttp(slot, { cursors: withCursors, mutations: true });
      slot.forceHttp = false;
      slot.failures = 0;
    } catch (e) {
      if (e && e.name === 'AbortError') return;
      slot.failures = (slot.failures || 0) + 1;
      this._emitError(e);
      this._timer(`flush:${slot.cid}`, this._backoff(slot.failures - 1), () => this._pump());
    } finally {
      slot.httpBusy = false;
    }
    if (this._slots.get(slot.cid) === slot) this._pump();
  }

  /**
   * One POST /v1/sync: `slot`'s ready mutations (when `mutations`) and the
   * cursors of every open space (when `cursors`). Results are handled before
   * the catch-up answers, so acknowledged writes leave the view exactly when
   * the server state that contains them arrives.
   */
  async _syncHttp(slot, { cursors, mutations }) {
    const now = this._now();
    const ready = mutations && slot ? slot.queue.sendable(now).slice(0, slot.single ? 1 : this._opt.maxMutationsPerRequest) : [];
    const spaces = cursors ? [...this._spaces.values()] : [];
    if (!ready.length && !spaces.length) return;
    const body = { client_id: slot ? slot.cid : this.clientId || randomId('c-'), cursors: {}, mutations: [] };
    for (const s of spaces) body.cursors[s.name] = s.cursor;
    for (const e of ready) {
      body.mutations.push({ client_id: slot.cid, mutation_id: e.mutationId, space: e.space, ops: e.ops });
      e.sent = true;
    }
    if (ready.length) this._persistQueue(slot);
    let res;
    try {
      res = await this._fetchJson('POST', '/v1/sync', body);
    } catch (e) {
      // A request the server cannot read at all (400/422) is retried one
      // mutation at a time, so one bad write cannot block the queue.
      if (ready.length && e.status && [400, 413, 422].includes(e.status)) {
        if (slot.single || ready.length === 1) {
          this._onResult(slot.cid, ready[0].mutationId, { status: 'reject', code: e.code === 'too_large' ? 'too_large' : 'invalid', message: e.message });
          slot.single = false;
          return;
        }
        slot.single = true;
        return;
      }
      throw e;
    }
    slot && (slot.single = false);
    const results = (res && res.results) || [];
    const answered = new Set();
    const cid = slot ? slot.cid : null;
    for (let i = 0; i < results.length; i++) {
      const r = results[i];
      const mid = r.mutation_id !== undefined && r.mutation_id !== null ? r.mutation_id : ready[i] && ready[i].mutationId;
      if (mid === undefined) continue;
      // After an `out_of_order` renumbering the remaining results name old ids: stop.
      if (slot.cid !== cid) break;
      answered.add(mid);
      this._onResult(cid, mid, r);
    }
    // A mutation the response does not answer is retried later, never in a tight loop.
    const missing = slot && slot.cid === cid ? ready.filter((e) => !answered.has(e.mutationId) && slot.queue.get(e.mutationId) === e) : [];
    if (missing.length) {
      missing[0].attempts++;
      missing[0].retryAt = this._now() + this._backoff(missing[0].attempts);
      this._persistQueue(slot);
    }
    for (const [name, answer] of Object.entries((res && res.spaces) || {})) {
      const space = this._spaceFor(name);
      if (space) this._applyAnswer(space, answer, 'http');
    }
  }

  /**
   * A mutation's outcome, from the server (WebSocket, HTTP) or another tab.
   * ack: resolve, and keep the write in the view until the server state
   * reaches `version`. reject: retry (`unavailable`, `rate_limited`),
   * renumber (`out_of_order` at the head), or roll back and rebase.
   */
  _onResult(cid, mid, r, fromTab = false) {
    const key = `${cid}:${mid}`;
    const slot = fromTab ? null : this._slots.get(cid);
    const entry = slot ? slot.queue.get(mid) : this._overlay.get(key);
    const spaceName = (entry && entry.space) || r.space;
    const space = spaceName ? this._spaceFor(spaceName) : null;
    if (r.status === 'ack') {
      if (slot && entry) {
        slot.sentOnConn.delete(mid);
        entry.ackVersion = r.version;
        if (!space) slot.queue.remove(mid);
        this._persistQueue(slot);
      } else if (entry) {
        entry.ackVersion = Math.max(entry.ackVersion || 0, r.version);
      }
      if (!fromTab && slot) this._broadcast({ t: 'result', clientId: cid, mutationId: mid, result: { status: 'ack', version: r.version, noop: !!r.noop, space: spaceName } });
      this._settle(key, true, { version: r.version, noop: !!r.noop, mutationId: mid });
      if (space) this._afterServerChange(space, new Set(), 'server');
      this._releaseIfDone(slot);
      this._updateStatus();
      if (slot) this._pump();
      return;
    }
    // reject
    const code = r.code || 'invalid';
    if (slot && entry) {
      slot.sentOnConn.delete(mid);
      if (code === 'out_of_order') {
        const head = slot.queue.pending[0];
        if (head && head !== entry) {
          // An earlier write was not recorded (retry pending): resend from the head later.
          this._resendFrom(slot, entry);
          return;
        }
        this._renumber(slot);
        return;
      }
      if (RETRYABLE.has(code) && entry.attempts < this._opt.maxRetries) {
        entry.attempts++;
        entry.retryAt = this._now() + this._backoff(entry.attempts);
        this._resendFrom(slot, entry);
        this._persistQueue(slot);
        this._pump();
        return;
      }
      slot.queue.remove(mid);
      this._persistQueue(slot);
      this._broadcast({ t: 'result', clientId: cid, mutationId: mid, result: { status: 'reject', code, message: r.message, current: r.current, space: spaceName } });
    }
    const removed = this._overlay.get(key);
    this._overlay.delete(key);
    const keys = new Set();
    if (removed) for (const op of removed.ops) keys.add(docKey(op.collection, op.id));
    if (space && r.current && typeof r.current.version === 'number' && r.current.version > space._data.version) {
      const k = docKey(r.current.collection, r.current.id);
      space._ahead.set(k, r.current);
      keys.add(k);
    }
    if (space && keys.size) this._recompute(space, keys, 'rollback');
    this._settle(key, false, new TidemarkError(code, r.message || code, { current: r.current, mutationId: mid, space: spaceName }));
    this._releaseIfDone(slot);
    this._updateStatus();
    this._pump();
  }

  /** Marks `entry` and everything after it as not sent on this connection. */
  _resendFrom(slot, entry) {
    let after = false;
    for (const e of slot.queue.entries) {
      if (e === entry) after = true;
      if (after) slot.sentOnConn.delete(e.mutationId);
    }
    this._timer('pump', Math.max(0, (entry.retryAt || 0) - this._now()), () => this._pump());
  }

  /**
   * `out_of_order` at the head: the server does not know this client id's
   * last mutation (its records were lost). The unacknowledged writes move to
   * a new client id, numbered from 1, and are sent again.
   */
  _renumber(slot) {
    const oldCid = slot.cid;
    const newCid = randomId('c-');
    const oldKeys = slot.queue.entries.map((e) => `${oldCid}:${e.mutationId}`);
    const acked = slot.queue.entries.filter((e) => e.ackVersion != null);
    const moved = slot.queue.renumber(newCid, 1);
    for (const e of acked) this._overlay.set(`${oldCid}:${e.mutationId}`, { ...e, clientId: oldCid }); // finished; pruned by the server state
    for (const { oldId, entry } of moved) {
      const oldKey = `${oldCid}:${oldId}`;
      this._overlay.delete(oldKey);
      this._overlay.set(`${newCid}:${entry.mutationId}`, entry);
      const w = this._waiters.get(oldKey);
      if (w) {
        this._waiters.delete(oldKey);
        this._waiters.set(`${newCid}:${entry.mutationId}`, w);
      }
    }
    this._slots.delete(oldCid);
    slot.cid = newCid;
    slot.sentOnConn.clear();
    this._slots.set(newCid, slot);
    this._write(this._key('q', oldCid), null);
    this._write(this._key('n', oldCid), null);
    this._forgetClientId(oldCid);
    this._unlock(oldCid);
    this._lock(newCid);
    this._rememberClientId(newCid);
    this._persistQueue(slot);
    this._broadcast({ t: 'drop', keys: oldKeys });
    for (const { entry } of moved) this._broadcast({ t: 'pending', entry: wireEntry(entry) });
    if (slot === this._main) {
      this.clientId = newCid;
      // hello carries the client id: the socket starts over with the new one.
      if (this._ws) this._dropWs(this._ws, 4000, 'client id changed');
    }
    this._pump();
  }

  _releaseIfDone(slot) {
    if (!slot || slot === this._main || slot.queue.entries.length > 0) return;
    this._slots.delete(slot.cid);
    this._unlock(slot.cid);
  }

  // ── applying server state ──────────────────────────────────────────────────

  /** The open space a server name refers to (`user:me` opened under an opaque token gets its real name). */
  _spaceFor(name) {
    const s = this._spaces.get(name);
    if (s) return s;
    if (typeof name === 'string' && name.startsWith('user:') && !this._userKnown) {
      const me = this._spaces.get('user:me');
      if (me) {
        this._renameSpace(me, name);
        return me;
      }
    }
    return null;
  }

  /**
   * Applies a catch-up answer or live event for `space` received `via`
   * `ws`, `sse`, `http` or `tab` (another tab's broadcast: never trusted to
   * open a resync). Gaps resubscribe with the cursor.
   */
  _applyAnswer(space, msg, via) {
    if (space._data.epoch === null && msg.type === 'event') return; // no first answer yet: it will include this
    const res = applyCatchUp(space._data, msg, { force: space._forceSnapshot && via !== 'tab' });
    if (res.status === 'gap') {
      if (via !== 'tab') this._resync(space, res.reset);
      // applied part (if any) still counts below
      if (!res.events.length) return;
    } else if (via !== 'tab') {
      space._synced = true;
      space._resyncs = 0;
      space.error = null;
      if ((msg.kind || msg.type) === 'snapshot') space._forceSnapshot = false;
      this._touch(space);
    }
    if (res.status === 'applied' || res.events.length) {
      const keys = new Set(res.changed);
      if (res.epochChanged) {
        // Writes acknowledged in a lost history are gone; pending ones are resent.
        for (const [k, e] of [...this._overlay]) {
          if (e.space === space.name && e.ackVersion != null) {
            this._overlay.delete(k);
            for (const op of e.ops) keys.add(docKey(op.collection, op.id));
            const slot = this._slots.get(e.clientId);
            if (slot && slot.queue.remove(e.mutationId)) this._persistQueue(slot);
          }
        }
        for (const k of space._ahead.keys()) keys.add(k);
        space._ahead.clear();
      }
      for (const ev of res.events) {
        if (!ev.origin) continue;
        const e = this._overlay.get(`${ev.origin.client_id}:${ev.origin.mutation_id}`);
        if (e && !this._slots.has(e.clientId)) e.ackVersion = Math.max(e.ackVersion || 0, ev.version);
      }
      this._scheduleSave(space);
      this._afterServerChange(space, keys, via === 'tab' ? 'tab' : 'server');
      if (via !== 'tab' && res.events.length) {
        this._broadcast({ t: 'events', space: space.name, epoch: space._data.epoch, from: res.events[0].version - 1, to: res.events[res.events.length - 1].version, events: res.events });
      }
    }
    this._updateStatus();
  }

  /**
   * After the server state moved: drop acknowledged writes it now contains
   * and stale `_ahead` docs, then recompute the view where it may differ.
   */
  _afterServerChange(space, keys, source) {
    const v = space._data.version;
    for (const [k, d] of [...space._ahead]) {
      if (d.version <= v) {
        space._ahead.delete(k);
        keys.add(k);
      }
    }
    const prunedSlots = new Set();
    for (const [k, e] of [...this._overlay]) {
      if (e.space !== space.name || e.ackVersion == null || e.ackVersion > v) continue;
      this._overlay.delete(k);
      for (const op of e.ops) keys.add(docKey(op.collection, op.id));
      const slot = this._slots.get(e.clientId);
      if (slot && slot.queue.get(e.mutationId) === e) {
        slot.queue.remove(e.mutationId);
        prunedSlots.add(slot);
      }
    }
    if (prunedSlots.size) {
      // The cache must hold the write before the queue forgets it (a reload in between would lose it).
      this._dirty.add(space);
      this._saveAll();
      for (const slot of prunedSlots) {
        this._persistQueue(slot);
        this._releaseIfDone(slot);
      }
    }
    if (keys.size) this._recompute(space, keys, source);
  }

  /** Asks for a space again from its cursor (or from nothing after `reset` or repeated gaps). */
  _resync(space, reset) {
    space._synced = false;
    space._resyncs++;
    if (reset || space._resyncs > 3) space._forceSnapshot = true;
    if (this._mode === 'websocket') {
      const conn = this._ws;
      if (conn && conn.welcomed) this._sendHello(conn, [space]);
    } else if (this._mode === 'sse') {
      this._openStream(space);
    } else {
      this._requestSync({ mutations: false }).catch(() => {});
    }
    this._updateStatus();
  }

  /** Recomputes the view of `keys` (all when null) and emits one `change` event for what differs. */
  _recompute(space, keys, source) {
    const opsByKey = new Map();
    for (const e of this._overlay.values()) {
      if (e.space !== space.name) continue;
      for (const op of e.ops) {
        const k = docKey(op.collection, op.id);
        if (!opsByKey.has(k)) opsByKey.set(k, []);
        opsByKey.get(k).push(op);
      }
    }
    let all = keys;
    if (!all) {
      all = new Set([...space._view.keys(), ...space._data.docs.keys(), ...space._ahead.keys(), ...opsByKey.keys()]);
    }
    const changes = [];
    for (const k of all) {
      const before = space._view.get(k) || null;
      const after = rebaseDoc(space._baseDoc(k), opsByKey.get(k));
      if (after) space._view.set(k, after);
      else space._view.delete(k);
      const same = before === after || (before && after && !!before.pending === !!after.pending && before.version === after.version && deepEqual(before.value, after.value));
      if (same || (!before && !after)) continue;
      const { collection, id } = splitKey(k);
      changes.push({ collection, id, value: after ? clone(after.value) : undefined, previous: before ? clone(before.value) : undefined, version: after ? after.version : undefined, pending: !!(after && after.pending) });
    }
    if (changes.length) space._emit({ space: space.name, source, changes });
  }

  _recomputeEntry(entry, source) {
    const space = this._spaces.get(entry.space);
    if (space) this._recompute(space, new Set(entry.ops.map((op) => docKey(op.collection, op.id))), source);
  }

  // ── transports ─────────────────────────────────────────────────────────────

  _connect() {
    if (this._closed) return;
    if (this._mode === 'websocket') this._connectWs();
    else this._startMode(this._mode);
  }

  /** Reconnects now (network back, tab visible, refresh button). */
  _kick() {
    if (this._closed || !this._started) return;
    if (this._transports.includes('websocket') && !this._ws) {
      this._clearTimer('ws');
      this._connectWs();
    }
    if (this._mode === 'sse') {
      for (const s of this._spaces.values()) if (!this._streams.has(s.name)) this._openStream(s);
    }
    if (this._mode === 'poll') this._requestSync({ mutations: true }).catch(() => {});
    this._pump();
  }

  /** Subscribes a space opened after start on the running transport. */
  _subscribe(space) {
    if (this._mode === 'websocket') {
      const conn = this._ws;
      if (conn && conn.welcomed) this._sendHello(conn, [space]);
    } else if (this._mode === 'sse') {
      this._openStream(space);
    } else {
      this._pollLoop(space, this._pollGen);
      this._requestSync({ mutations: false }).catch(() => {});
    }
    this._updateStatus();
  }

  /** Moves to another transport; the WebSocket keeps retrying behind a fallback. */
  _switchTo(mode) {
    if (mode === this._mode) return;
    const prev = this._mode;
    this._mode = mode;
    this.transport = mode;
    if (prev === 'sse') this._closeStreams();
    if (prev === 'poll') {
      this._pollGen++;
      if (this._pollAbort) this._pollAbort.abort();
      this._pollAbort = null;
    }
    for (const s of this._spaces.values()) s._synced = false;
    if (mode !== 'websocket') this._startMode(mode);
    this._updateStatus();
    this._pump();
  }

  _startMode(mode) {
    if (mode === 'sse') {
      this._sseFailures = 0;
      for (const s of this._spaces.values()) this._openStream(s);
      this._timer('sse-check', this._opt.pingIntervalMs, () => this._sseCheck());
    } else if (mode === 'poll') {
      this._pollGen++;
      this._pollAbort = typeof AbortController === 'function' ? new AbortController() : null;
      this._requestSync({ mutations: true })
        .catch(() => {})
        .finally(() => {
          for (const s of this._spaces.values()) this._pollLoop(s, this._pollGen);
        });
    }
  }

  /** The transport after `mode` that this environment supports. */
  _nextTransport(mode) {
    const order = this._transports;
    for (let i = order.indexOf(mode) + 1; i < order.length; i++) {
      const t = order[i];
      if (t === 'sse' && !this._env.EventSource) continue;
      if (t === 'poll' && !this._env.fetch) continue;
      return t;
    }
    return null;
  }

  // WebSocket

  async _connectWs() {
    if (this._closed || this._ws || this._wsConnecting || !this._transports.includes('websocket')) return;
    if (!this._env.WebSocket) {
      const next = this._nextTransport('websocket');
      if (next && this._mode === 'websocket') this._switchTo(next);
      return;
    }
    this._wsConnecting = true;
    let token;
    try {
      token = await this._token(false);
    } catch (e) {
      this._wsConnecting = false;
      this._setFatal(e);
      this._timer('ws', this._backoff(this._wsFailures++), () => this._connectWs());
      return;
    }
    this._wsConnecting = false;
    if (this._closed || this._ws || !this._main) return;
    let ws;
    try {
      ws = new this._env.WebSocket(`${this._wsBase}/v1/ws?access_token=${encodeURIComponent(token)}`, SUBPROTOCOL);
    } catch (e) {
      this._emitError(e);
      this._wsFailed(null, false);
      return;
    }
    const conn = { ws, welcomed: false, welcomedAt: null, nonce: 0, lastRx: this._now(), limits: null };
    this._ws = conn;
    // hello goes out on `welcome` (sent once the upgrade is authenticated), so
    // spaces opened while connecting are included.
    ws.onopen = () => {};
    ws.onmessage = (ev) => this._onWsMessage(conn, ev.data);
    ws.onclose = (ev) => this._onWsClose(conn, ev ? ev.code : 1006, ev ? ev.reason : '');
    // Browsers follow `error` with `close`, other hosts may not (or only much
    // later): an error ends the connection at once; the late close is ignored.
    ws.onerror = () => {
      if (this._ws === conn) this._dropWs(conn, 1006, 'error');
    };
    this._timer('ws-connect', this._opt.connectTimeoutMs, () => {
      if (this._ws === conn && !conn.welcomed) this._dropWs(conn, 4000, 'connect timeout');
    });
  }

  _sendHello(conn, spaces) {
    const subscribe = {};
    for (const s of spaces) {
      s._synced = false;
      subscribe[s.name] = s.cursor;
    }
    this._wsSend(conn, { type: 'hello', protocol: PROTOCOL, client_id: this._main.cid, subscribe });
  }

  _wsSend(conn, msg) {
    return this._wsSendRaw(conn, JSON.stringify(msg));
  }

  _wsSendRaw(conn, text) {
    try {
      conn.ws.send(text);
      return true;
    } catch {
      return false;
    }
  }

  _onWsMessage(conn, raw) {
    if (this._ws !== conn || this._closed) return;
    conn.lastRx = this._now();
    let m;
    try {
      m = JSON.parse(typeof raw === 'string' ? raw : String(raw));
    } catch {
      return;
    }
    if (!m || typeof m !== 'object') return;
    switch (m.type) {
      case 'welcome':
        conn.welcomed = true;
        conn.welcomedAt = this._now();
        conn.limits = m.limits || null;
        this._clearTimer('ws-connect');
        this._authFailures = 0;
        this._fatal = null;
        this.error = null;
        if (this._main) this._main.sentOnConn.clear();
        if (this._mode !== 'websocket') this._switchTo('websocket');
        if (!this._main) {
          this._dropWs(conn, 4000, 'no client id');
          break;
        }
        this._sendHello(conn, [...this._spaces.values()]);
        this._timer('ping', this._opt.pingIntervalMs, () => this._ping(conn));
        this._scheduleVersionCheck(conn);
        this._pump();
        break;
      case 'snapshot':
      case 'events':
      case 'up_to_date':
      case 'event': {
        const space = this._spaceFor(m.space);
        if (space) this._applyAnswer(space, m, 'ws');
        break;
      }
      case 'ack':
      case 'reject':
        if (this._main) this._onResult(this._main.cid, m.mutation_id, { ...m, status: m.type });
        break;
      case 'pong':
        if (this._allSynced()) for (const s of this._spaces.values()) this._touch(s);
        this._updateStatus();
        break;
      case 'error':
        this._onWsError(m);
        break;
      default:
        break;
    }
  }

  /** `error` frames: a refused subscription marks its space; a refused `mutate` frame is resent later. */
  _onWsError(m) {
    const err = new TidemarkError(m.code || 'error', m.message || 'server error', { space: m.space });
    if (m.space) {
      const space = this._spaceFor(m.space);
      if (space) {
        if (m.code === 'unavailable') {
          this._timer(`resub:${space.name}`, this._backoff(space._resyncs++), () => this._resync(space, false));
        } else {
          space.error = err;
          space._synced = true; // nothing more will come for it
        }
      }
    } else if (['rate_limited', 'too_large', 'bad_message'].includes(m.code) && this._main && this._main.sentOnConn.size) {
      // A mutate frame may have been refused: resend everything unanswered, after a pause.
      const slot = this._main;
      const head = slot.queue.pending[0];
      if (head) {
        head.attempts++;
        head.retryAt = this._now() + this._backoff(head.attempts);
        if (m.code === 'too_large') slot.forceHttp = true;
        slot.sentOnConn.clear();
        this._persistQueue(slot);
        this._timer('pump', head.retryAt - this._now(), () => this._pump());
      }
    }
    this._emitError(err);
    this._updateStatus();
  }

  /** Client-side heartbeat: browsers cannot see protocol pings. No frame at all within `pongTimeoutMs` of a ping: dead. */
  _ping(conn) {
    if (this._ws !== conn) return;
    const sentAt = this._now();
    this._wsSend(conn, { type: 'ping', nonce: ++conn.nonce });
    this._timer('pong', this._opt.pongTimeoutMs, () => {
      if (this._ws === conn && conn.lastRx < sentAt) this._dropWs(conn, 4000, 'no pong');
    });
    this._timer('ping', this._opt.pingIntervalMs, () => this._ping(conn));
  }

  /**
   * seed 001's version polling on top of the socket: every `versionCheckMs`
   * (0: off) each space's `/version` (served from memory) is read; a space
   * whose server is ahead of what it holds (other epoch, higher version) missed
   * something and is resubscribed from its cursor, as after a gap (`_resync`).
   * SSE needs no extra poll (`_sseCheck` compares versions already), nor does
   * long-polling (it waits on `/version` itself).
   */
  _scheduleVersionCheck(conn) {
    if (this._opt.versionCheckMs > 0) this._timer('version-check', this._opt.versionCheckMs, () => this._versionCheck(conn));
  }

  async _versionCheck(conn) {
    for (const s of [...this._spaces.values()]) {
      if (this._ws !== conn) return;
      if (!s._synced) continue; // its catch-up is under way
      let r;
      try {
        r = await this._fetchJson('GET', `/v1/spaces/${encodeURIComponent(s.name)}/version`);
      } catch {
        break; // HTTP unreachable (or closed): the socket's own heartbeat judges the connection
      }
      if (this._ws !== conn) return;
      if (r && s._synced && (r.epoch !== s._data.epoch || r.version > s._data.version)) this._resync(s, false);
    }
    if (this._ws === conn) this._scheduleVersionCheck(conn);
  }

  /** Gives up on a connection now (without waiting for the browser's close event). */
  _dropWs(conn, code, reason) {
    // Detach first: closing may fire `error` / `close` synchronously.
    this._onWsClose(conn, code, reason);
    try {
      conn.ws.close();
    } catch {
      // ignore
    }
  }

  _onWsClose(conn, code, reason) {
    if (this._ws !== conn) return;
    this._ws = null;
    for (const t of ['ws-connect', 'ping', 'pong', 'version-check']) this._clearTimer(t);
    if (this._main) this._main.sentOnConn.clear();
    if (this._closed) return;
    if (this._mode === 'websocket') for (const s of this._spaces.values()) s._synced = false;
    const stable = conn.welcomed && this._now() - conn.welcomedAt >= this._opt.stableAfterMs;
    if (code === 4001) {
      // Token expired or refused: a function token is asked again at once.
      if (typeof this._opt.token === 'string' || ++this._authFailures > 3) {
        this._setFatal(new TidemarkError('unauthorized', reason || 'the server refused the token'));
        this._updateStatus();
        return;
      }
      this._token(true).then(
        () => this._timer('ws', this._authFailures > 1 ? this._backoff(this._authFailures) : 0, () => this._connectWs()),
        (e) => {
          this._setFatal(e);
          this._timer('ws', this._backoff(this._authFailures), () => this._connectWs());
        },
      );
      this._updateStatus();
      return;
    }
    if (code === 4003) {
      this._setFatal(new TidemarkError('forbidden', reason || 'the server refused this connection'));
      this._updateStatus();
      return;
    }
    this._wsFailed(conn, stable, code);
  }

  /** Schedules the next WebSocket attempt, and falls back after `fallbackAfter` failures in a row. */
  _wsFailed(conn, stable, code) {
    this._noteFailure();
    if (stable) this._wsFailures = 0;
    else this._wsFailures++;
    let delay;
    if (code === 4008) delay = this._opt.backoffMaxMs; // policy: too many connections or abuse
    else if (stable || code === 4009 || code === 1012 || code === 1001) delay = this._backoff(0);
    else delay = this._backoff(this._wsFailures - 1);
    if (this._mode === 'websocket' && this._wsFailures >= this._opt.fallbackAfter) {
      const next = this._nextTransport('websocket');
      if (next) this._switchTo(next);
    }
    this._timer('ws', delay, () => this._connectWs());
    this._updateStatus();
  }

  // Server-sent events (one EventSource per space)

  async _openStream(space) {
    if (this._closed || this._mode !== 'sse' || !this._env.EventSource) return;
    this._closeStream(space.name);
    let token;
    try {
      token = await this._token(false);
    } catch (e) {
      this._setFatal(e);
      return;
    }
    if (this._closed || this._mode !== 'sse' || this._streams.has(space.name) || this._spaces.get(space.name) !== space) return;
    const c = space.cursor;
    const url =
      `${this._http}/v1/events?space=${encodeURIComponent(space.name)}` +
      (c ? `&cursor=${encodeURIComponent(formatCursor(c))}` : '') +
      `&access_token=${encodeURIComponent(token)}`;
    let es;
    try {
      es = new this._env.EventSource(url);
    } catch (e) {
      this._emitError(e);
      this._sseDown(space, { everAnswered: false });
      return;
    }
    // answered: live now (reset while the browser reconnects); everAnswered: the stream worked once.
    const st = { es, answered: false, everAnswered: false };
    this._streams.set(space.name, st);
    space._synced = false;
    const onFrame = (type) => (ev) => {
      if (this._streams.get(space.name) !== st) return;
      let m;
      try {
        m = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (!st.answered && ANSWERS.has(type)) {
        st.answered = true;
        st.everAnswered = true;
        this._sseFailures = 0;
        this._clearTimer(`sse-answer:${space.name}`);
      }
      this._applyAnswer(space, { ...m, type }, 'sse');
    };
    for (const t of ['snapshot', 'events', 'up_to_date', 'event']) es.addEventListener(t, onFrame(t));
    es.onerror = () => {
      if (this._streams.get(space.name) !== st) return;
      space._synced = false;
      st.answered = false;
      this._noteFailure();
      if (es.readyState === 2) {
        this._streams.delete(space.name);
        this._sseDown(space, st);
      }
      // Otherwise the browser reconnects by itself, resuming from Last-Event-ID.
      this._updateStatus();
    };
    this._timer(`sse-answer:${space.name}`, this._opt.connectTimeoutMs, () => {
      if (this._streams.get(space.name) === st && !st.answered) {
        this._closeStream(space.name);
        this._sseDown(space, st);
      }
    });
  }

  _sseDown(space, st) {
    this._noteFailure();
    if (!st.everAnswered) this._sseFailures++;
    if (this._sseFailures >= this._opt.fallbackAfter) {
      const next = this._nextTransport('sse');
      if (next) {
        this._switchTo(next);
        return;
      }
    }
    this._timer(`sse:${space.name}`, this._backoff(this._sseFailures), () => this._openStream(space));
    this._updateStatus();
  }

  _closeStream(name) {
    const st = this._streams.get(name);
    if (!st) return;
    this._streams.delete(name);
    this._clearTimer(`sse-answer:${name}`);
    try {
      st.es.close();
    } catch {
      // ignore
    }
  }

  _closeStreams() {
    for (const name of [...this._streams.keys()]) this._closeStream(name);
    this._clearTimer('sse-check');
  }

  /**
   * SSE heartbeats are comments the EventSource API hides, so liveness is
   * checked with a cheap `/version` read (served from memory): current ->
   * lastSynced is now; behind twice in a row -> the stream is reopened.
   */
  async _sseCheck() {
    if (this._closed || this._mode !== 'sse') return;
    try {
      for (const s of [...this._spaces.values()]) {
        const r = await this._fetchJson('GET', `/v1/spaces/${encodeURIComponent(s.name)}/version`);
        if (this._mode !== 'sse') return;
        if (r && r.epoch === s._data.epoch && r.version <= s._data.version) {
          s._behind = 0;
          if (this._streams.get(s.name) && this._streams.get(s.name).answered) this._touch(s);
        } else if (++s._behind >= 2) {
          s._behind = 0;
          this._openStream(s);
        }
      }
      this._sseCheckOk = true;
    } catch (e) {
      if (e && e.name === 'AbortError') return;
      this._sseCheckOk = false;
      this._noteFailure();
    }
    this._updateStatus();
    this._timer('sse-check', this._opt.pingIntervalMs, () => this._sseCheck());
  }

  // Long-polling (`/version?since=N&wait=S` per space, POST /v1/sync to read and write)

  async _pollLoop(space, gen) {
    if (!this._env.fetch) return;
    let failures = 0;
    while (!this._closed && gen === this._pollGen && this._mode === 'poll' && this._spaces.get(space.name) === space) {
      try {
        if (!space._synced) await this._requestSync({ mutations: true });
        if (gen !== this._pollGen || this._closed) return;
        const since = space._data.version;
        const r = await this._fetchJson(
          'GET',
          `/v1/spaces/${encodeURIComponent(space.name)}/version?since=${since}&wait=${this._opt.longPollWaitS}`,
          undefined,
          this._pollAbort && this._pollAbort.signal,
        );
        failures = 0;
        this._httpLive = true;
        if (gen !== this._pollGen || this._closed) return;
        if (!r || r.epoch !== space._data.epoch || r.version > space._data.version) await this._requestSync({ mutations: true });
        else {
          this._touch(space);
          this._updateStatus();
        }
      } catch (e) {
        if ((e && e.name === 'AbortError') || gen !== this._pollGen || this._closed) return;
        failures++;
        this._httpLive = false;
        this._noteFailure();
        this._updateStatus();
        await this._sleep(this._backoff(failures - 1));
      }
    }
  }

  _sleep(ms) {
    return new Promise((resolve) => this._env.setTimeout(resolve, ms));
  }

  /**
   * POST /v1/sync with every open space's cursor, plus the main slot's ready
   * mutations when `mutations` (the fallbacks' write path). Single flight:
   * a call during a request makes it run once more afterwards.
   */
  _requestSync({ mutations = true } = {}) {
    if (this._closed || !this._started) return Promise.resolve();
    if (mutations) this._syncWithMutations = true;
    if (this._syncP) {
      this._syncAgain = true;
      return this._syncP;
    }
    this._clearTimer('sync-retry');
    this._syncP = (async () => {
      try {
        for (let round = 0; round < 10; round++) {
          this._syncAgain = false;
          const withMutations = this._syncWithMutations && this._mode !== 'websocket';
          this._syncWithMutations = false;
          const slot = this._main;
          if (withMutations && slot) slot.httpBusy = true;
          try {
            await this._syncHttp(slot, { cursors: true, mutations: withMutations });
          } finally {
            if (slot) slot.httpBusy = false;
          }
          this._httpLive = true;
          this._httpFailures = 0;
          if (this._fatal && this._fatal.code !== 'forbidden') {
            this._fatal = null;
            this.error = null;
          }
          const more = withMutations && slot && slot.queue.sendable(this._now()).length > 0;
          if (!this._syncAgain && !more) break;
          if (more) this._syncWithMutations = true;
        }
      } catch (e) {
        if (e && e.name === 'AbortError') return;
        this._httpLive = false;
        this._httpFailures++;
        this._noteFailure();
        if (e && e.code === 'unauthorized') this._setFatal(e);
        else this._emitError(e);
        if (this._mode !== 'websocket') this._timer('sync-retry', this._backoff(this._httpFailures - 1), () => this._requestSync({ mutations: true }).catch(() => {}));
        throw e;
      } finally {
        this._syncP = null;
        this._updateStatus();
        this._pump();
      }
    })();
    return this._syncP;
  }

  /** fetch + JSON + the error body; a 401 asks a function token again once. */
  async _fetchJson(method, path, body, signal) {
    const f = this._env.fetch;
    if (!f) throw new TidemarkError('unavailable', 'fetch is not available');
    for (let attempt = 0; ; attempt++) {
      const token = await this._token(attempt > 0);
      const headers = { Authorization: `Bearer ${token}` };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      let res;
      try {
        res = await f(this._http + path, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: signal || (this._abort && this._abort.signal),
        });
      } catch (e) {
        if (e && e.name === 'AbortError') throw e;
        throw new TidemarkError('network', (e && e.message) || 'network error', { cause: e });
      }
      if (res.status === 401 && attempt === 0 && typeof this._opt.token === 'function') continue;
      const text = res.status === 204 || res.status === 304 ? '' : await res.text();
      let json = null;
      try {
        json = text ? JSON.parse(text) : null;
      } catch {
        json = null;
      }
      if (!res.ok) {
        const e = json && json.error;
        throw new TidemarkError((e && e.code) || (res.status === 401 ? 'unauthorized' : `http_${res.status}`), (e && e.message) || `HTTP ${res.status}`, {
          status: res.status,
          current: (e && e.current) || (json && json.current),
        });
      }
      return json;
    }
  }

  // ── multi-tab ──────────────────────────────────────────────────────────────
  //
  // Tabs of one user in one browser share a BroadcastChannel:
  //   pending {entry}          a write made (or re-folded) in a tab: shown at once elsewhere
  //   result  {clientId, mutationId, result}   its ack / reject
  //   events  {space, epoch, from, to, events} server events a tab applied (versioned: safe to apply)
  //   drop    {keys}           entries renumbered away
  //   bye                      a tab closed: look for its queue now

  _openChannel() {
    const BC = this._env.BroadcastChannel;
    if (!BC || this._bc) return;
    try {
      this._bc = new BC(`tidemark:v1:${hash32(this._http)}:${this.user === null ? '~' : this.user}`);
      this._bc.onmessage = (ev) => this._onBroadcast(ev.data);
    } catch {
      this._bc = null;
    }
  }

  _broadcast(msg) {
    if (!this._bc) return;
    try {
      this._bc.postMessage({ ...msg, tab: this._tabId });
    } catch {
      // ignore (closing)
    }
  }

  _onBroadcast(msg) {
    if (!msg || msg.tab === this._tabId || this._closed) return;
    switch (msg.t) {
      case 'pending': {
        const e = msg.entry;
        if (!e || this._slots.has(e.clientId)) return;
        const key = `${e.clientId}:${e.mutationId}`;
        const prev = this._overlay.get(key);
        this._overlay.set(key, { ...e, ackVersion: prev ? prev.ackVersion : null });
        this._recomputeEntry(e, 'tab');
        this._updateStatus();
        break;
      }
      case 'result': {
        if (this._slots.has(msg.clientId)) return;
        this._onResult(msg.clientId, msg.mutationId, msg.result, true);
        break;
      }
      case 'events': {
        const space = this._spaces.get(msg.space);
        if (space && space._data.epoch === msg.epoch) this._applyAnswer(space, { type: 'events', epoch: msg.epoch, from: msg.from, to: msg.to, events: msg.events }, 'tab');
        break;
      }
      case 'drop': {
        for (const key of msg.keys || []) {
          const e = this._overlay.get(key);
          if (!e || this._slots.has(e.clientId)) continue;
          this._overlay.delete(key);
          this._recomputeEntry(e, 'tab');
        }
        break;
      }
      case 'bye':
        this._timer('scan', 50, () => this._scanOrphans());
        break;
      default:
        break;
    }
  }

  // ── page lifecycle ─────────────────────────────────────────────────────────

  _listenWindow() {
    const w = this._env.window;
    if (!w || typeof w.addEventListener !== 'function') return;
    this._winHandlers = {
      online: () => this._kick(),
      // The socket is dead or about to be: say so now, not after the pong timeout.
      offline: () => {
        this._noteFailure();
        if (this._ws) this._dropWs(this._ws, 1006, 'offline');
        this._httpLive = false;
        this._updateStatus();
      },
      pagehide: () => this._onHide(),
      visibilitychange: () => {
        const d = w.document;
        if (d && d.visibilityState === 'hidden') this._onHide();
        else if (this.status === 'stale' || this.status === 'disconnected') this._kick();
      },
    };
    for (const [k, fn] of Object.entries(this._winHandlers)) w.addEventListener(k, fn);
  }

  _unlistenWindow() {
    const w = this._env.window;
    if (!w || !this._winHandlers) return;
    for (const [k, fn] of Object.entries(this._winHandlers)) w.removeEventListener(k, fn);
    this._winHandlers = null;
  }

  /** The page may not come back: end debounce windows, send, persist. */
  _onHide() {
    const now = this._now();
    for (const slot of this._slots.values()) {
      slot.queue.flushDebounce(now);
      this._persistQueue(slot);
    }
    this._pump();
    this._saveAll();
    for (const s of this._spaces.values()) this._saveSynced(s);
  }

  // ── status ─────────────────────────────────────────────────────────────────

  _isLive() {
    if (this._mode === 'websocket') return !!(this._ws && this._ws.welcomed);
    if (this._mode === 'sse') {
      if (!this._sseCheckOk) return false;
      for (const s of this._spaces.values()) {
        const st = this._streams.get(s.name);
        if (!st || !st.answered) return false;
      }
      return true;
    }
    return this._httpLive;
  }

  _allSynced() {
    for (const s of this._spaces.values()) if (!s._synced) return false;
    return true;
  }

  _computeStatus(now) {
    if (this._closed) return 'disconnected';
    if (this._fatal) return 'error';
    for (const s of this._spaces.values()) if (s.error) return 'error';
    if (this._isLive()) {
      const busy = this._forcing > 0 || !this._allSynced() || this.pendingCount > 0;
      return busy ? 'syncing' : 'synced';
    }
    // Before the first sync of this session: `connecting` while the first
    // attempt runs, or when there is nothing cached to show. A page loaded
    // from the cache whose attempt failed is offline with data of a known age,
    // like a client that lost its connection: disconnected, then stale.
    if (!this._everSynced && !(this._attemptFailed && this._hasCachedData())) return 'connecting';
    return this.isStale(now) ? 'stale' : 'disconnected';
  }

  _updateStatus() {
    const now = this._now();
    if (this._isLive() && this._allSynced() && !this._closed) this._everSynced = true;
    const status = this._computeStatus(now);
    if (this._isLive() && this._allSynced() && !this._closed) {
      for (const w of this._syncWaiters.splice(0)) w.resolve();
    }
    // Not live: wake up when the data turns stale.
    if (!this._closed && (status === 'disconnected' || status === 'syncing' || status === 'connecting')) {
      const last = this.lastSynced;
      if (last) {
        const at = last.getTime() + this._opt.staleAfterMs - now;
        if (at > 0) this._timer('stale', at + 1, () => this._updateStatus());
      }
    }
    const key = `${status}|${this._mode}`;
    if (key === this._lastStatusKey) return;
    this._lastStatusKey = key;
    // Reaching `synced` (or leaving it) stores the latest lastSynced at once.
    if (status !== this.status || status === 'synced') for (const s of this._spaces.values()) this._saveSynced(s);
    this.status = status;
    this.transport = this._mode;
    const detail = { transport: this._mode, lastSynced: this.lastSynced, error: this.error };
    for (const fn of [...this._handlers.status]) {
      try {
        fn(status, detail);
      } catch (e) {
        console.error('tidemark: status handler failed', e);
      }
    }
  }

  _waitSynced(timeoutMs) {
    if (this._isLive() && this._allSynced()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = { resolve, reject };
      this._syncWaiters.push(w);
      this._env.setTimeout(() => {
        const i = this._syncWaiters.indexOf(w);
        if (i >= 0) {
          this._syncWaiters.splice(i, 1);
          reject(new TidemarkError('timeout', 'not in sync yet'));
        }
      }, timeoutMs);
    });
  }

  _setFatal(e) {
    const err = e instanceof TidemarkError ? e : new TidemarkError((e && e.code) || 'error', (e && e.message) || String(e));
    this._fatal = err;
    this.error = err;
    this._emitError(err);
    this._updateStatus();
  }

  _emitError(e) {
    for (const fn of [...this._handlers.error]) {
      try {
        fn(e);
      } catch (x) {
        console.error('tidemark: error handler failed', x);
      }
    }
  }
}

/** The wire-safe part of a queue entry (what other tabs need to show it). */
function wireEntry(e) {
  return { clientId: e.clientId, mutationId: e.mutationId, space: e.space, ops: e.ops, createdAt: e.createdAt, ackVersion: e.ackVersion ?? null };
}

export default TidemarkClient;
