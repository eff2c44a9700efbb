// The external store behind every hook: one per client, shared by all
// components. It turns the client's `change` and `status` events into
// `useSyncExternalStore` subscriptions with cached, identity-stable
// snapshots, and holds exactly one listener per space (and one status
// listener) however many components subscribe: reference counted, released
// when the last component unmounts.
import { clockOf, staleAfterOf, deepEqual } from './util.js';

const stores = new WeakMap();

/** The store of `client` (created on first use, one per client). */
export function storeFor(client) {
  let s = stores.get(client);
  if (!s) {
    s = new ClientStore(client);
    stores.set(client, s);
  }
  return s;
}

function spaceName(space) {
  return typeof space === 'string' ? space : space && space.name;
}

function sameDocSnap(a, b) {
  return a.version === b.version && a.pending === b.pending && a.error === b.error && a.loaded === b.loaded && deepEqual(a.value, b.value);
}

function sameDocs(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x.id !== y.id || x.version !== y.version || !!x.pending !== !!y.pending || !deepEqual(x.value, y.value)) return false;
  }
  return true;
}

function sameStatus(a, b) {
  return (
    a.status === b.status &&
    a.lastSyncedRelative === b.lastSyncedRelative &&
    a.isStale === b.isStale &&
    a.pendingCount === b.pendingCount &&
    a.unsavedCount === b.unsavedCount &&
    a.error === b.error &&
    (a.lastSynced ? a.lastSynced.getTime() : null) === (b.lastSynced ? b.lastSynced.getTime() : null)
  );
}

function call(set, ...args) {
  for (const w of [...set]) {
    try {
      w.fn(...args);
    } catch (e) {
      console.error('tidemark-react: listener failed', e);
    }
  }
}

export class ClientStore {
  constructor(client) {
    this.client = client;
    this.clock = clockOf(client);
    /** Requested space name -> {space, listeners, off, docs, cols, rev}. */
    this.spaces = new Map();
    this.statusListeners = new Set();
    /** Active subscriptions of any kind; the client's status listener lives while > 0. */
    this.refs = 0;
    this.offStatus = null;
    this.lastError = null;
    this.statusSnap = null;
    this.tick = null;
    /** Edits waiting in a hook's debounce (token -> flush function), shown as "unsaved changes". */
    this.unsaved = new Map();
  }

  // ── subscriptions ──────────────────────────────────────────────────────────

  _entry(space) {
    const name = spaceName(space);
    let e = this.spaces.get(name);
    if (!e) {
      const obj = typeof space === 'string' ? this.client.space(name) : space;
      e = { name, space: obj, listeners: new Set(), off: null, docs: new Map(), cols: new Map(), rev: 0 };
      this.spaces.set(name, e);
    }
    return e;
  }

  /** The client's Space object for a name (opening it: the client subscribes to it on the server once). */
  space(space) {
    return this._entry(space).space;
  }

  _retain() {
    if (this.refs++ === 0) {
      const offStatus = this.client.on('status', () => this._onStatus());
      // The status says `error`; the error event says which (a refused token, a forbidden space).
      const offError = this.client.on('error', (e) => {
        this.lastError = e;
      });
      this.offStatus = () => {
        offStatus();
        offError();
      };
    }
  }

  _release() {
    if (--this.refs === 0) {
      if (this.offStatus) this.offStatus();
      this.offStatus = null;
      this._cancelTick();
    }
  }

  /** `fn(changeEvent?)` on every change of the space and every status change. Returns the unsubscribe function. */
  subscribeSpace(space, fn) {
    const e = this._entry(space);
    const w = { fn };
    e.listeners.add(w);
    if (!e.off) e.off = e.space.on('change', (ev) => this._onChange(e, ev));
    this._retain();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      e.listeners.delete(w);
      if (e.listeners.size === 0 && e.off) {
        e.off();
        e.off = null;
        for (const c of e.docs.values()) c.valid = false;
        for (const c of e.cols.values()) c.valid = false;
      }
      this._release();
    };
  }

  /** `fn()` on status changes, pushes, queue changes and the "2m ago" clock. */
  subscribeStatus(fn) {
    const w = { fn };
    this.statusListeners.add(w);
    this._retain();
    this._scheduleTick();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.statusListeners.delete(w);
      if (this.statusListeners.size === 0) this._cancelTick();
      this._release();
    };
  }

  _onChange(e, ev) {
    e.rev++;
    for (const ch of ev.changes) {
      const d = e.docs.get(`${ch.collection}/${ch.id}`);
      if (d) d.valid = false;
      const c = e.cols.get(ch.collection);
      if (c) c.valid = false;
    }
    call(e.listeners, ev);
    this.notifyStatus();
  }

  _onStatus() {
    for (const e of this.spaces.values()) {
      e.rev++;
      for (const c of e.docs.values()) c.valid = false;
      for (const c of e.cols.values()) c.valid = false;
      call(e.listeners, undefined);
    }
    this.notifyStatus();
  }

  /** Tells status subscribers to look again (writes queued or settled, unsaved edits). */
  notifyStatus() {
    this._scheduleTick();
    call(this.statusListeners);
  }

  // ── the "2m ago" clock ─────────────────────────────────────────────────────

  _cancelTick() {
    if (this.tick !== null) this.clock.clearTimeout(this.tick);
    this.tick = null;
  }

  /** Wakes status subscribers when the relative time or staleness would change. */
  _scheduleTick() {
    this._cancelTick();
    if (this.statusListeners.size === 0) return;
    const last = this.client.lastSynced;
    if (!last) return;
    const age = this.clock.now() - last.getTime();
    const staleAfter = staleAfterOf(this.client);
    if (age >= staleAfter) return; // nothing changes until the next sync
    const wait = Math.min(60_000 - (Math.max(0, age) % 60_000), staleAfter - age) + 1;
    this.tick = this.clock.setTimeout(() => {
      this.tick = null;
      this.notifyStatus();
    }, wait);
  }

  // ── snapshots ──────────────────────────────────────────────────────────────

  _valid(e) {
    return e.off !== null && this.offStatus !== null;
  }

  _error(e) {
    return e.space.error || this.client.error || null;
  }

  /** `{value, version, pending, error, loaded}` of one document; the same object while nothing changed. */
  getDoc(space, collection, id) {
    const e = this._entry(space);
    const key = `${collection}/${id}`;
    const c = e.docs.get(key);
    if (c && c.valid) return c.snap;
    const d = e.space.doc(collection, id);
    let snap = {
      value: d ? d.value : undefined,
      version: d ? d.version : 0,
      pending: !!(d && d.pending),
      error: this._error(e),
      loaded: !!d || e.space.epoch !== null,
    };
    if (c && sameDocSnap(c.snap, snap)) snap = c.snap;
    e.docs.set(key, { snap, valid: this._valid(e) });
    return snap;
  }

  /** `{docs, values, byId, pending, error, loaded}` of one collection (docs sorted by id). */
  getCollection(space, collection) {
    const e = this._entry(space);
    const c = e.cols.get(collection);
    if (c && c.valid) return c.snap;
    const docs = e.space.list(collection);
    const error = this._error(e);
    const loaded = docs.length > 0 || e.space.epoch !== null;
    let snap;
    if (c && c.snap.error === error && c.snap.loaded === loaded && sameDocs(c.snap.docs, docs)) {
      snap = c.snap;
    } else {
      const byId = {};
      for (const d of docs) byId[d.id] = d.value;
      snap = { docs, values: docs.map((d) => d.value), byId, pending: docs.some((d) => d.pending), error, loaded };
    }
    e.cols.set(collection, { snap, valid: this._valid(e) });
    return snap;
  }

  /** A number that moves on every change of the space (and every status change). */
  getRevision(space) {
    return this._entry(space).rev;
  }

  /** `{status, lastSynced, lastSyncedRelative, isStale, pendingCount, unsavedCount, error}`; `error` only while the status is `error`. */
  getStatus() {
    const c = this.client;
    const now = this.clock.now();
    let snap = {
      status: c.status,
      lastSynced: c.lastSynced,
      lastSyncedRelative: c.lastSyncedRelative(now),
      isStale: c.isStale(now),
      pendingCount: c.pendingCount,
      unsavedCount: this.unsaved.size,
      error: c.status === 'error' ? c.error || this.lastError || null : null,
    };
    if (this.statusSnap && sameStatus(this.statusSnap, snap)) snap = this.statusSnap;
    this.statusSnap = snap;
    return snap;
  }

  // ── edits waiting in a debounce ────────────────────────────────────────────

  /** Registers (`flush` a function) or clears (`null`) an edit waiting in a hook's debounce. */
  setUnsaved(token, flush) {
    const had = this.unsaved.has(token);
    if (flush) this.unsaved.set(token, flush);
    else this.unsaved.delete(token);
    if (had !== !!flush) this.notifyStatus();
  }

  /** Sends every debounced edit now, then asks the client to push its queue and pull (the badge's "Save now"). */
  async saveNow() {
    for (const flush of [...this.unsaved.values()]) {
      try {
        flush();
      } catch (e) {
        console.error('tidemark-react: flush failed', e);
      }
    }
    try {
      await this.client.forceSync();
    } catch {
      // offline or closed: the writes stay queued and go out on reconnect
    }
  }
}
