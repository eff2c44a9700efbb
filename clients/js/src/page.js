// The page's lifecycle: online / offline, hidden or leaving.

/** TidemarkClient methods: window events. */
export const pageMethods = {
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
  },

  _unlistenWindow() {
    const w = this._env.window;
    if (!w || !this._winHandlers) return;
    for (const [k, fn] of Object.entries(this._winHandlers)) w.removeEventListener(k, fn);
    this._winHandlers = null;
  },

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
  },
};
