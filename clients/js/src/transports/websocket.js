// The WebSocket transport (`/v1/ws`, subprotocol `tidemark.v1`): hello with
// the cursors, frames, the client-side ping, seed 001's version check, and
// reconnecting with backoff.

import { PROTOCOL, SUBPROTOCOL } from '../constants.js';
import { TidemarkError } from '../errors.js';

/** TidemarkClient methods: the WebSocket transport. */
export const websocketMethods = {
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
      // The token goes in the first message, not the URL: URLs land in
      // proxy and access logs.
      ws = new this._env.WebSocket(`${this._wsBase}/v1/ws`, SUBPROTOCOL);
    } catch (e) {
      this._emitError(e);
      this._wsFailed(null, false);
      return;
    }
    const conn = { ws, welcomed: false, welcomedAt: null, nonce: 0, lastRx: this._now(), limits: null };
    this._ws = conn;
    // hello goes out on `welcome` (sent once the `auth` message is
    // accepted), so spaces opened while connecting are included.
    ws.onopen = () => {
      if (this._ws === conn) this._wsSend(conn, { type: 'auth', token });
    };
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
  },

  _sendHello(conn, spaces) {
    const subscribe = {};
    for (const s of spaces) {
      s._synced = false;
      subscribe[s.name] = s.cursor;
    }
    this._wsSend(conn, { type: 'hello', protocol: PROTOCOL, client_id: this._main.cid, subscribe });
  },

  _wsSend(conn, msg) {
    return this._wsSendRaw(conn, JSON.stringify(msg));
  },

  _wsSendRaw(conn, text) {
    try {
      conn.ws.send(text);
      return true;
    } catch {
      return false;
    }
  },

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
      case 'revoked':
        // Removed from this team space: its subscription ended for good.
        this._onWsError({ code: 'revoked', message: 'removed from this team space', space: m.space });
        break;
      default:
        break;
    }
  },

  /** `error` frames: a refused subscription marks its space; a refused `mutate` frame is resent later. */
  _onWsError(m) {
    const err = new TidemarkError(m.code || 'error', m.message || 'server error', { space: m.space });
    if (m.space) {
      const space = this._spaceFor(m.space);
      if (space) {
        if (m.code === 'unavailable' || m.code === 'store_unavailable') {
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
  },

  /** Client-side heartbeat: browsers cannot see protocol pings. No frame at all within `pongTimeoutMs` of a ping: dead. */
  _ping(conn) {
    if (this._ws !== conn) return;
    const sentAt = this._now();
    this._wsSend(conn, { type: 'ping', nonce: ++conn.nonce });
    this._timer('pong', this._opt.pongTimeoutMs, () => {
      if (this._ws === conn && conn.lastRx < sentAt) this._dropWs(conn, 4000, 'no pong');
    });
    this._timer('ping', this._opt.pingIntervalMs, () => this._ping(conn));
  },

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
  },

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
  },

  /** Gives up on a connection now (without waiting for the browser's close event). */
  _dropWs(conn, code, reason) {
    // Detach first: closing may fire `error` / `close` synchronously.
    this._onWsClose(conn, code, reason);
    try {
      conn.ws.close();
    } catch {
      // ignore
    }
  },

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
  },

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
  },
};
