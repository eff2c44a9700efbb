// Choosing the transport: WebSocket first, then server-sent events, then
// long-polling, after `fallbackAfter` failures in a row; the WebSocket keeps
// being retried behind a fallback and takes over again once it is welcomed.

/** TidemarkClient methods: connecting, subscribing and switching transports. */
export const fallbackMethods = {
  _connect() {
    if (this._closed) return;
    if (this._mode === 'websocket') this._connectWs();
    else this._startMode(this._mode);
  },

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
  },

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
  },

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
  },

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
  },

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
  },
};
