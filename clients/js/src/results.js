// The outcome of a mutation (from the server or another tab): ack, retry,
// renumbering after `out_of_order`, or rollback.

import { docKey, randomId } from './util.js';
import { TidemarkError } from './errors.js';
import { wireEntry } from './tabs.js';

const RETRYABLE = new Set(['unavailable', 'store_unavailable', 'rate_limited']);

/** TidemarkClient methods: acks and rejects. */
export const resultMethods = {
  /**
   * A mutation's outcome, from the server (WebSocket, HTTP) or another tab.
   * ack: resolve, and keep the write in the view until the server state
   * reaches `version`. reject: retry (`unavailable`, `rate_limited`),
   * renumber (`out_of_order` at the head), or roll back and rebase.
   */
  _onResult(cid, mid, r, fromTab = false) {
    const key = `${cid}:${mid}`;
    const slot = fromTab ? null : this._slots.get(cid);
    const entry = slot ? slot.queue.get(mid) : this._overlay.get(key);
    const spaceName = (entry && entry.space) || r.space;
    const space = spaceName ? this._spaceFor(spaceName) : null;
    if (r.status === 'ack') {
      if (slot && entry) {
        slot.sentOnConn.delete(mid);
        entry.ackVersion = r.version;
        if (!space) slot.queue.remove(mid);
        this._persistQueue(slot);
      } else if (entry) {
        entry.ackVersion = Math.max(entry.ackVersion || 0, r.version);
      }
      if (!fromTab && slot) this._broadcast({ t: 'result', clientId: cid, mutationId: mid, result: { status: 'ack', version: r.version, noop: !!r.noop, space: spaceName } });
      this._settle(key, true, { version: r.version, noop: !!r.noop, mutationId: mid });
      if (space) this._afterServerChange(space, new Set(), 'server');
      this._releaseIfDone(slot);
      this._updateStatus();
      if (slot) this._pump();
      return;
    }
    // reject
    const code = r.code || 'invalid';
    if (slot && entry) {
      slot.sentOnConn.delete(mid);
      if (code === 'out_of_order') {
        const head = slot.queue.pending[0];
        if (head && head !== entry) {
          // An earlier write was not recorded (retry pending): resend from the head later.
          this._resendFrom(slot, entry);
          return;
        }
        this._renumber(slot);
        return;
      }
      if (RETRYABLE.has(code) && entry.attempts < this._opt.maxRetries) {
        entry.attempts++;
        entry.retryAt = this._now() + this._backoff(entry.attempts);
        this._resendFrom(slot, entry);
        this._persistQueue(slot);
        this._pump();
        return;
      }
      slot.queue.remove(mid);
      this._persistQueue(slot);
      this._broadcast({ t: 'result', clientId: cid, mutationId: mid, result: { status: 'reject', code, message: r.message, current: r.current, space: spaceName } });
    }
    const removed = this._overlay.get(key);
    this._overlay.delete(key);
    const keys = new Set();
    if (removed) for (const op of removed.ops) keys.add(docKey(op.collection, op.id));
    if (space && r.current && typeof r.current.version === 'number' && r.current.version > space._data.version) {
      const k = docKey(r.current.collection, r.current.id);
      space._ahead.set(k, r.current);
      keys.add(k);
    }
    if (space && keys.size) this._recompute(space, keys, 'rollback');
    this._settle(key, false, new TidemarkError(code, r.message || code, { current: r.current, mutationId: mid, space: spaceName }));
    this._releaseIfDone(slot);
    this._updateStatus();
    this._pump();
  },

  /** Marks `entry` and everything after it as not sent on this connection. */
  _resendFrom(slot, entry) {
    let after = false;
    for (const e of slot.queue.entries) {
      if (e === entry) after = true;
      if (after) slot.sentOnConn.delete(e.mutationId);
    }
    this._timer('pump', Math.max(0, (entry.retryAt || 0) - this._now()), () => this._pump());
  },

  /**
   * `out_of_order` at the head: the server does not know this client id's
   * last mutation (its records were lost). The unacknowledged writes move to
   * a new client id, numbered from 1, and are sent again.
   */
  _renumber(slot) {
    const oldCid = slot.cid;
    const newCid = randomId('c-');
    const oldKeys = slot.queue.entries.map((e) => `${oldCid}:${e.mutationId}`);
    const acked = slot.queue.entries.filter((e) => e.ackVersion != null);
    const moved = slot.queue.renumber(newCid, 1);
    for (const e of acked) this._overlay.set(`${oldCid}:${e.mutationId}`, { ...e, clientId: oldCid }); // finished; pruned by the server state
    for (const { oldId, entry } of moved) {
      const oldKey = `${oldCid}:${oldId}`;
      this._overlay.delete(oldKey);
      this._overlay.set(`${newCid}:${entry.mutationId}`, entry);
      const w = this._waiters.get(oldKey);
      if (w) {
        this._waiters.delete(oldKey);
        this._waiters.set(`${newCid}:${entry.mutationId}`, w);
      }
    }
    this._slots.delete(oldCid);
    slot.cid = newCid;
    slot.sentOnConn.clear();
    this._slots.set(newCid, slot);
    this._write(this._key('q', oldCid), null);
    this._write(this._key('n', oldCid), null);
    this._forgetClientId(oldCid);
    this._unlock(oldCid);
    this._lock(newCid);
    this._rememberClientId(newCid);
    this._persistQueue(slot);
    this._broadcast({ t: 'drop', keys: oldKeys });
    for (const { entry } of moved) this._broadcast({ t: 'pending', entry: wireEntry(entry) });
    if (slot === this._main) {
      this.clientId = newCid;
      // hello carries the client id: the socket starts over with the new one.
      if (this._ws) this._dropWs(this._ws, 4000, 'client id changed');
    }
    this._pump();
  },

  _releaseIfDone(slot) {
    if (!slot || slot === this._main || slot.queue.entries.length > 0) return;
    this._slots.delete(slot.cid);
    this._unlock(slot.cid);
  },
};
