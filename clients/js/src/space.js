// One space as the client holds it: its server state, its optimistic view,
// reads and writes, and `change` events.

import { clone, docKey } from './util.js';
import { TidemarkError } from './errors.js';
import { emptyState } from './state.js';

/**
 * One space as this client holds it. Obtained from `client.space(name)`.
 * `_data` is the confirmed server state; `_view` is what the user sees
 * (server state + pending writes of this and other tabs).
 */
export class Space {
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
    this._presence = []; // [{user, client_id, state}] on this connection's node
    this._presenceHandlers = new Set();
    this._myPresence = undefined; // what setPresence asked for (sent again after a reconnect)
  }

  /** Who is present (WebSocket only): `[{user, client_id, state}]`, a copy. */
  get presence() {
    return clone(this._presence);
  }

  /** Shows this tab as present with a small JSON `state` (at most 1 KiB) until changed or closed. WebSocket only. */
  setPresence(state) {
    this._myPresence = clone(state);
    this._client._sendPresence(this);
  }

  /** A `presence_state` or `presence_diff` frame. */
  _onPresence(m) {
    const same = (a, b) => a.user === b.user && a.client_id === b.client_id;
    if (m.type === 'presence_state') {
      this._presence = m.members || [];
      // A new subscription (after a reconnect, say): show ourselves again.
      if (this._myPresence !== undefined) this._client._sendPresence(this);
    } else {
      const leaves = m.leaves || [];
      this._presence = this._presence.filter((p) => !leaves.some((l) => same(l, p))).concat(m.joins || []);
    }
    const members = this.presence;
    for (const fn of [...this._presenceHandlers]) {
      try {
        fn({ space: this.name, members });
      } catch (e) {
        console.error('tidemark: presence handler failed', e);
      }
    }
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

  /** `on('change', fn)`: fn({space, source, changes: [{collection, id, value, previous}]}); `on('presence', fn)`: fn({space, members}). Returns an unsubscribe function. */
  on(type, fn) {
    const set = type === 'change' ? this._handlers : type === 'presence' ? this._presenceHandlers : null;
    if (!set) throw new TypeError(`unknown event ${type}`);
    set.add(fn);
    return () => set.delete(fn);
  }

  off(type, fn) {
    this._handlers.delete(fn);
    this._presenceHandlers.delete(fn);
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
