// Tokens: reading a JWT's claims, and asking a token function again before
// the token expires.

import { isObject } from './util.js';
import { TidemarkError } from './errors.js';

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

/** TidemarkClient methods: the current token and its refresh. */
export const tokenMethods = {
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
  },

  _scheduleTokenRefresh() {
    if (!this._tok || this._tok.exp === undefined) return;
    const left = this._tok.exp * 1000 - this._now();
    const margin = Math.min(this._opt.tokenRefreshMarginMs, left / 2);
    this._timer('token', left - margin, () => this._refreshToken());
  },

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
  },
};
