// The client's status (`connecting`, `syncing`, `synced`, `disconnected`,
// `stale`, `error`), its events, and waiting for `synced`.

import { TidemarkError } from './errors.js';

/** TidemarkClient methods: status, errors and waiting for sync. */
export const statusMethods = {
  /** True when some open space shows data from the cache or from an earlier sync. */
  _hasCachedData() {
    for (const s of this._spaces.values()) if (s._data.epoch !== null || s.lastSyncedMs !== null) return true;
    return false;
  },

  /** A connection attempt failed (any transport), or the page went offline. */
  _noteFailure() {
    this._attemptFailed = true;
  },

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
  },

  _allSynced() {
    for (const s of this._spaces.values()) if (!s._synced) return false;
    return true;
  },

  _computeStatus(now) {
    if (this._closed) return 'disconnected';
    if (this._fatal) return 'error';
    // A space this user was removed from (`revoked`) is not a sync failure:
    // it says so on the space, the others go on syncing.
    for (const s of this._spaces.values()) if (s.error && s.error.code !== 'revoked') return 'error';
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
  },

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
  },

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
  },

  _setFatal(e) {
    const err = e instanceof TidemarkError ? e : new TidemarkError((e && e.code) || 'error', (e && e.message) || String(e));
    this._fatal = err;
    this.error = err;
    this._emitError(err);
    this._updateStatus();
  },

  _emitError(e) {
    for (const fn of [...this._handlers.error]) {
      try {
        fn(e);
      } catch (x) {
        console.error('tidemark: error handler failed', x);
      }
    }
  },
};
