// Persistence: the storage the client writes to, and the per-user cache of
// each space (documents, cursor, last sync time) under keys
// `tidemark:v1:{server hash}:{user}:{kind}[:{name}]`.

import { docKey } from './util.js';

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

export function defaultStorage() {
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

/** TidemarkClient methods: storage keys and the cached state of spaces. */
export const cacheMethods = {
  _key(kind, name) {
    return this._prefix + kind + (name === undefined ? '' : ':' + name);
  },

  _read(key) {
    try {
      const raw = this._storage.getItem(key);
      return raw === null || raw === undefined ? null : JSON.parse(raw);
    } catch {
      return null;
    }
  },

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
  },

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
  },

  _scheduleSave(space) {
    this._dirty.add(space);
    if (!this._timers.has('save')) this._timer('save', this._opt.saveDelayMs, () => this._saveAll());
  },

  _saveAll() {
    if (!this._prefix) return;
    this._clearTimer('save');
    for (const s of this._dirty) {
      if (s._data.epoch === null) continue;
      this._write(this._key('s', s.name), { epoch: s._data.epoch, version: s._data.version, docs: [...s._data.docs.values()] });
    }
    this._dirty.clear();
  },

  /**
   * Marks a space confirmed current now (lastSynced), persisting it at most
   * every 5 s; every status change (reaching `synced` among them) and close()
   * write the latest value too (see {@link _saveSynced}).
   */
  _touch(space) {
    const now = this._now();
    space.lastSyncedMs = now;
    if (now - space._lastSavedSyncMs >= 5_000) this._saveSynced(space);
  },

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
  },
};
