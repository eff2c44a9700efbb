// The server-sent events transport: one EventSource per space
// (`/v1/events?space=...&cursor=...`), with a `/version` read as its liveness
// check.

import { formatCursor } from '../state.js';
import { TidemarkError } from '../errors.js';

const ANSWERS = new Set(['snapshot', 'events', 'up_to_date']);

/** TidemarkClient methods: the server-sent events transport. */
export const sseMethods = {
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
    // Who is present (the same messages as over a WebSocket).
    for (const t of ['presence_state', 'presence_diff']) {
      es.addEventListener(t, (ev) => {
        if (this._streams.get(space.name) !== st) return;
        try {
          space._onPresence({ ...JSON.parse(ev.data), type: t });
        } catch {
          // not JSON: ignore
        }
      });
    }
    // Removed from this team space: the server ends the stream; do not reconnect.
    es.addEventListener('revoked', () => {
      if (this._streams.get(space.name) !== st) return;
      this._closeStream(space.name);
      space.error = new TidemarkError('revoked', 'removed from this team space', { space: space.name });
      space._synced = true;
      this._updateStatus();
    });
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
  },

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
  },

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
  },

  _closeStreams() {
    for (const name of [...this._streams.keys()]) this._closeStream(name);
    this._clearTimer('sse-check');
  },

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
  },
};
