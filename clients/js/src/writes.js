// Writes: validating and queueing them (or holding them until the tab has a
// client id), promises waiting for their outcome, and the pump that sends
// ready mutations over the WebSocket or POST /v1/sync.

import { docKey, utf8Length } from './util.js';
import { TidemarkError } from './errors.js';
import { validateOp } from './patch.js';
import { wireEntry } from './tabs.js';

/** TidemarkClient methods: queueing and sending writes. */
export const writeMethods = {
  _mutate(space, op, opts) {
    if (this._closed) return Promise.reject(new TidemarkError('closed', 'the client is closed'));
    const bad = validateOp(op);
    if (bad) return Promise.reject(new TidemarkError('invalid', bad));
    const debounceMs = opts && opts.debounceMs > 0 ? opts.debounceMs : 0;
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject };
      if (!this._main || !this._started) {
        // No client id yet (token or lock pending): shown at once, queued on start.
        const entry = { clientId: null, mutationId: ++this._earlySeq, space: space.name, ops: [op], debounceMs, waiter, ackVersion: null };
        this._early.push(entry);
        this._overlay.set(`early:${entry.mutationId}`, entry);
        this._recompute(space, [docKey(op.collection, op.id)], 'local');
        this._updateStatus();
        return;
      }
      this._enqueue(space.name, op, debounceMs, [waiter]);
    });
  },

  _moveEarly() {
    const early = this._early;
    this._early = [];
    for (const e of early) {
      this._overlay.delete(`early:${e.mutationId}`);
      this._enqueue(e.space, e.ops[0], e.debounceMs, [e.waiter]);
    }
  },

  _enqueue(spaceName, op, debounceMs, waiters) {
    const slot = this._main;
    const { entry } = slot.queue.enqueue({ space: spaceName, op, debounceMs, now: this._now() });
    this._persistQueue(slot);
    const key = `${slot.cid}:${entry.mutationId}`;
    this._overlay.set(key, entry);
    this._addWaiters(key, waiters);
    const space = this._spaces.get(spaceName);
    if (space) this._recompute(space, [docKey(op.collection, op.id)], 'local');
    this._broadcast({ t: 'pending', entry: wireEntry(entry) });
    this._updateStatus();
    this._pump();
  },

  _addWaiters(key, waiters) {
    if (!waiters.length) return;
    const list = this._waiters.get(key) || [];
    list.push(...waiters);
    this._waiters.set(key, list);
  },

  _settle(key, ok, value) {
    const list = this._waiters.get(key);
    if (!list) return;
    this._waiters.delete(key);
    for (const w of list) (ok ? w.resolve : w.reject)(value);
  },

  /**
   * Sends what may be sent: the main slot over the WebSocket (pipelined, at
   * most `maxInflight` unanswered) or over POST /v1/sync on the fallbacks;
   * adopted slots always over POST /v1/sync. Wakes itself when a debounce
   * window or a retry delay ends.
   */
  _pump() {
    if (this._closed || !this._started) return;
    const now = this._now();
    let wake = null;
    for (const slot of [...this._slots.values()]) {
      const ready = slot.queue.sendable(now);
      const at = slot.queue.nextWakeAt();
      if (at !== null && at > now) wake = wake === null ? at : Math.min(wake, at);
      if (!ready.length) continue;
      if (slot !== this._main) {
        if (!this._timers.has(`flush:${slot.cid}`)) this._flushSlot(slot);
        continue;
      }
      if (this._mode !== 'websocket') {
        // Fallbacks write over POST /v1/sync; after a failure, its retry timer sends.
        if (!this._timers.has('sync-retry')) this._requestSync({ mutations: true }).catch(() => {});
        continue;
      }
      const conn = this._ws;
      if (!conn || !conn.welcomed || slot.httpBusy) continue;
      const maxFrame = (conn.limits && conn.limits.max_frame_bytes) || Infinity;
      let dirty = false;
      for (const e of ready) {
        if (slot.sentOnConn.has(e.mutationId)) continue;
        if (slot.sentOnConn.size >= this._opt.maxInflight) break;
        const frame = JSON.stringify({ type: 'mutate', mutation_id: e.mutationId, space: e.space, ops: e.ops });
        if (slot.forceHttp || utf8Length(frame) > maxFrame) {
          // Too big for a frame: once the socket has nothing in flight, send over HTTP.
          if (slot.sentOnConn.size === 0 && !this._timers.has(`flush:${slot.cid}`)) this._flushSlot(slot);
          break;
        }
        if (!this._wsSendRaw(conn, frame)) break;
        slot.sentOnConn.add(e.mutationId);
        if (!e.sent) {
          e.sent = true;
          dirty = true;
        }
      }
      if (dirty) this._persistQueue(slot);
    }
    if (wake !== null) this._timer('pump', wake - now, () => this._pump());
    else this._clearTimer('pump');
  },

  /** Sends one slot's ready mutations over POST /v1/sync (one request in flight per slot). */
  async _flushSlot(slot) {
    if (slot.httpBusy || !this._env.fetch) return;
    this._clearTimer(`flush:${slot.cid}`);
    slot.httpBusy = true;
    try {
      const withCursors = this._mode !== 'websocket' && slot === this._main;
      await this._syncHttp(slot, { cursors: withCursors, mutations: true });
      slot.forceHttp = false;
      slot.failures = 0;
    } catch (e) {
      if (e && e.name === 'AbortError') return;
      slot.failures = (slot.failures || 0) + 1;
      this._emitError(e);
      this._timer(`flush:${slot.cid}`, this._backoff(slot.failures - 1), () => this._pump());
    } finally {
      slot.httpBusy = false;
    }
    if (this._slots.get(slot.cid) === slot) this._pump();
  },
};
