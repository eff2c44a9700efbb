// Plain HTTP: POST /v1/sync (the fallbacks' read and write path, and how
// adopted slots are flushed), long-polling (`/version?since=N&wait=S` per
// space), and fetch with the token and the error body.

import { randomId } from '../util.js';
import { TidemarkError } from '../errors.js';

/** TidemarkClient methods: POST /v1/sync, long-polling and fetch. */
export const httpMethods = {
  /**
   * One POST /v1/sync: `slot`'s ready mutations (when `mutations`) and the
   * cursors of every open space (when `cursors`). Results are handled before
   * the catch-up answers, so acknowledged writes leave the view exactly when
   * the server state that contains them arrives.
   */
  async _syncHttp(slot, { cursors, mutations }) {
    const now = this._now();
    const ready = mutations && slot ? slot.queue.sendable(now).slice(0, slot.single ? 1 : this._opt.maxMutationsPerRequest) : [];
    const spaces = cursors ? [...this._spaces.values()] : [];
    if (!ready.length && !spaces.length) return;
    const body = { client_id: slot ? slot.cid : this.clientId || randomId('c-'), cursors: {}, mutations: [] };
    for (const s of spaces) body.cursors[s.name] = s.cursor;
    for (const e of ready) {
      body.mutations.push({ client_id: slot.cid, mutation_id: e.mutationId, space: e.space, ops: e.ops });
      e.sent = true;
    }
    if (ready.length) this._persistQueue(slot);
    let res;
    try {
      res = await this._fetchJson('POST', '/v1/sync', body);
    } catch (e) {
      // A request the server cannot read at all (400/422) is retried one
      // mutation at a time, so one bad write cannot block the queue.
      if (ready.length && e.status && [400, 413, 422].includes(e.status)) {
        if (slot.single || ready.length === 1) {
          this._onResult(slot.cid, ready[0].mutationId, { status: 'reject', code: e.code === 'too_large' ? 'too_large' : 'invalid', message: e.message });
          slot.single = false;
          return;
        }
        slot.single = true;
        return;
      }
      throw e;
    }
    slot && (slot.single = false);
    const results = (res && res.results) || [];
    const answered = new Set();
    const cid = slot ? slot.cid : null;
    for (let i = 0; i < results.length; i++) {
      const r = results[i];
      const mid = r.mutation_id !== undefined && r.mutation_id !== null ? r.mutation_id : ready[i] && ready[i].mutationId;
      if (mid === undefined) continue;
      // After an `out_of_order` renumbering the remaining results name old ids: stop.
      if (slot.cid !== cid) break;
      answered.add(mid);
      this._onResult(cid, mid, r);
    }
    // A mutation the response does not answer is retried later, never in a tight loop.
    const missing = slot && slot.cid === cid ? ready.filter((e) => !answered.has(e.mutationId) && slot.queue.get(e.mutationId) === e) : [];
    if (missing.length) {
      missing[0].attempts++;
      missing[0].retryAt = this._now() + this._backoff(missing[0].attempts);
      this._persistQueue(slot);
    }
    for (const [name, answer] of Object.entries((res && res.spaces) || {})) {
      const space = this._spaceFor(name);
      if (space) this._applyAnswer(space, answer, 'http');
    }
  },

  async _pollLoop(space, gen) {
    if (!this._env.fetch) return;
    let failures = 0;
    while (!this._closed && gen === this._pollGen && this._mode === 'poll' && this._spaces.get(space.name) === space) {
      try {
        if (!space._synced) await this._requestSync({ mutations: true });
        if (gen !== this._pollGen || this._closed) return;
        const since = space._data.version;
        const r = await this._fetchJson(
          'GET',
          `/v1/spaces/${encodeURIComponent(space.name)}/version?since=${since}&wait=${this._opt.longPollWaitS}`,
          undefined,
          this._pollAbort && this._pollAbort.signal,
        );
        failures = 0;
        this._httpLive = true;
        if (gen !== this._pollGen || this._closed) return;
        if (!r || r.epoch !== space._data.epoch || r.version > space._data.version) await this._requestSync({ mutations: true });
        else {
          this._touch(space);
          this._updateStatus();
        }
      } catch (e) {
        if ((e && e.name === 'AbortError') || gen !== this._pollGen || this._closed) return;
        failures++;
        this._httpLive = false;
        this._noteFailure();
        this._updateStatus();
        await this._sleep(this._backoff(failures - 1));
      }
    }
  },

  _sleep(ms) {
    return new Promise((resolve) => this._env.setTimeout(resolve, ms));
  },

  /**
   * POST /v1/sync with every open space's cursor, plus the main slot's ready
   * mutations when `mutations` (the fallbacks' write path). Single flight:
   * a call during a request makes it run once more afterwards.
   */
  _requestSync({ mutations = true } = {}) {
    if (this._closed || !this._started) return Promise.resolve();
    if (mutations) this._syncWithMutations = true;
    if (this._syncP) {
      this._syncAgain = true;
      return this._syncP;
    }
    this._clearTimer('sync-retry');
    this._syncP = (async () => {
      try {
        for (let round = 0; round < 10; round++) {
          this._syncAgain = false;
          const withMutations = this._syncWithMutations && this._mode !== 'websocket';
          this._syncWithMutations = false;
          const slot = this._main;
          if (withMutations && slot) slot.httpBusy = true;
          try {
            await this._syncHttp(slot, { cursors: true, mutations: withMutations });
          } finally {
            if (slot) slot.httpBusy = false;
          }
          this._httpLive = true;
          this._httpFailures = 0;
          if (this._fatal && this._fatal.code !== 'forbidden') {
            this._fatal = null;
            this.error = null;
          }
          const more = withMutations && slot && slot.queue.sendable(this._now()).length > 0;
          if (!this._syncAgain && !more) break;
          if (more) this._syncWithMutations = true;
        }
      } catch (e) {
        if (e && e.name === 'AbortError') return;
        this._httpLive = false;
        this._httpFailures++;
        this._noteFailure();
        if (e && e.code === 'unauthorized') this._setFatal(e);
        else this._emitError(e);
        if (this._mode !== 'websocket') this._timer('sync-retry', this._backoff(this._httpFailures - 1), () => this._requestSync({ mutations: true }).catch(() => {}));
        throw e;
      } finally {
        this._syncP = null;
        this._updateStatus();
        this._pump();
      }
    })();
    return this._syncP;
  },

  /** fetch + JSON + the error body; a 401 asks a function token again once. */
  async _fetchJson(method, path, body, signal) {
    const f = this._env.fetch;
    if (!f) throw new TidemarkError('unavailable', 'fetch is not available');
    for (let attempt = 0; ; attempt++) {
      const token = await this._token(attempt > 0);
      const headers = { Authorization: `Bearer ${token}` };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      let res;
      try {
        res = await f(this._http + path, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: signal || (this._abort && this._abort.signal),
        });
      } catch (e) {
        if (e && e.name === 'AbortError') throw e;
        throw new TidemarkError('network', (e && e.message) || 'network error', { cause: e });
      }
      if (res.status === 401 && attempt === 0 && typeof this._opt.token === 'function') continue;
      const text = res.status === 204 || res.status === 304 ? '' : await res.text();
      let json = null;
      try {
        json = text ? JSON.parse(text) : null;
      } catch {
        json = null;
      }
      if (!res.ok) {
        const e = json && json.error;
        throw new TidemarkError((e && e.code) || (res.status === 401 ? 'unauthorized' : `http_${res.status}`), (e && e.message) || `HTTP ${res.status}`, {
          status: res.status,
          current: (e && e.current) || (json && json.current),
        });
      }
      return json;
    }
  },
};
