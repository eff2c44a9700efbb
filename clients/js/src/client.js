// The client facade: `TidemarkClient`, its options and state, the public
// methods, start-up, timers and the user. Its internal methods live in one
// module per concern and are installed on its prototype here (see the map in
// ../tidemark.js); they share the state the constructor sets up.

import { DEFAULTS, TRANSPORTS } from './constants.js';
import { baseUrls, hash32, randomId } from './util.js';
import { TidemarkError } from './errors.js';
import { backoffDelay, isStale, relativeTime } from './time.js';
import { Space } from './space.js';
import { MemoryStorage, cacheMethods, defaultStorage } from './storage.js';
import { decodeJwt, tokenMethods } from './token.js';
import { slotMethods } from './slots.js';
import { writeMethods } from './writes.js';
import { resultMethods } from './results.js';
import { applyMethods } from './apply.js';
import { fallbackMethods } from './transports/fallback.js';
import { websocketMethods } from './transports/websocket.js';
import { sseMethods } from './transports/sse.js';
import { httpMethods } from './transports/http.js';
import { tabMethods } from './tabs.js';
import { pageMethods } from './page.js';
import { statusMethods } from './status.js';

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

  // ── start-up, timers, user ─────────────────────────────────────────────────

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
}

/** Puts each group's methods on the prototype (not enumerable, as class methods); a name defined twice is a mistake. */
function installMethods(cls, groups) {
  for (const group of groups) {
    for (const [name, d] of Object.entries(Object.getOwnPropertyDescriptors(group))) {
      if (Object.prototype.hasOwnProperty.call(cls.prototype, name)) throw new Error(`${cls.name}.${name} is defined twice`);
      Object.defineProperty(cls.prototype, name, { ...d, enumerable: false });
    }
  }
}

installMethods(TidemarkClient, [cacheMethods, tokenMethods, slotMethods, writeMethods, resultMethods, applyMethods, fallbackMethods, websocketMethods, sseMethods, httpMethods, tabMethods, pageMethods, statusMethods]);
