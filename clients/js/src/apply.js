// Applying server state to spaces (from any transport or another tab), then
// recomputing each view as "server state + pending writes" and emitting
// `change` events.

import { clone, deepEqual, docKey, splitKey } from './util.js';
import { rebaseDoc } from './patch.js';
import { applyCatchUp } from './state.js';

/** TidemarkClient methods: server answers, gaps, and the optimistic view. */
export const applyMethods = {
  /** The open space a server name refers to (`user:me` opened under an opaque token gets its real name). */
  _spaceFor(name) {
    const s = this._spaces.get(name);
    if (s) return s;
    if (typeof name === 'string' && name.startsWith('user:') && !this._userKnown) {
      const me = this._spaces.get('user:me');
      if (me) {
        this._renameSpace(me, name);
        return me;
      }
    }
    return null;
  },

  /**
   * Applies a catch-up answer or live event for `space` received `via`
   * `ws`, `sse`, `http` or `tab` (another tab's broadcast: never trusted to
   * open a resync). Gaps resubscribe with the cursor.
   */
  _applyAnswer(space, msg, via) {
    if (space._data.epoch === null && msg.type === 'event') return; // no first answer yet: it will include this
    const res = applyCatchUp(space._data, msg, { force: space._forceSnapshot && via !== 'tab' });
    if (res.status === 'gap') {
      if (via !== 'tab') this._resync(space, res.reset);
      // applied part (if any) still counts below
      if (!res.events.length) return;
    } else if (via !== 'tab') {
      space._synced = true;
      space._resyncs = 0;
      space.error = null;
      if ((msg.kind || msg.type) === 'snapshot') space._forceSnapshot = false;
      this._touch(space);
    }
    if (res.status === 'applied' || res.events.length) {
      const keys = new Set(res.changed);
      if (res.epochChanged) {
        // Writes acknowledged in a lost history are gone; pending ones are resent.
        for (const [k, e] of [...this._overlay]) {
          if (e.space === space.name && e.ackVersion != null) {
            this._overlay.delete(k);
            for (const op of e.ops) keys.add(docKey(op.collection, op.id));
            const slot = this._slots.get(e.clientId);
            if (slot && slot.queue.remove(e.mutationId)) this._persistQueue(slot);
          }
        }
        for (const k of space._ahead.keys()) keys.add(k);
        space._ahead.clear();
      }
      for (const ev of res.events) {
        if (!ev.origin) continue;
        const e = this._overlay.get(`${ev.origin.client_id}:${ev.origin.mutation_id}`);
        if (e && !this._slots.has(e.clientId)) e.ackVersion = Math.max(e.ackVersion || 0, ev.version);
      }
      this._scheduleSave(space);
      this._afterServerChange(space, keys, via === 'tab' ? 'tab' : 'server');
      if (via !== 'tab' && res.events.length) {
        this._broadcast({ t: 'events', space: space.name, epoch: space._data.epoch, from: res.events[0].version - 1, to: res.events[res.events.length - 1].version, events: res.events });
      }
    }
    this._updateStatus();
  },

  /**
   * After the server state moved: drop acknowledged writes it now contains
   * and stale `_ahead` docs, then recompute the view where it may differ.
   */
  _afterServerChange(space, keys, source) {
    const v = space._data.version;
    for (const [k, d] of [...space._ahead]) {
      if (d.version <= v) {
        space._ahead.delete(k);
        keys.add(k);
      }
    }
    const prunedSlots = new Set();
    for (const [k, e] of [...this._overlay]) {
      if (e.space !== space.name || e.ackVersion == null || e.ackVersion > v) continue;
      this._overlay.delete(k);
      for (const op of e.ops) keys.add(docKey(op.collection, op.id));
      const slot = this._slots.get(e.clientId);
      if (slot && slot.queue.get(e.mutationId) === e) {
        slot.queue.remove(e.mutationId);
        prunedSlots.add(slot);
      }
    }
    if (prunedSlots.size) {
      // The cache must hold the write before the queue forgets it (a reload in between would lose it).
      this._dirty.add(space);
      this._saveAll();
      for (const slot of prunedSlots) {
        this._persistQueue(slot);
        this._releaseIfDone(slot);
      }
    }
    if (keys.size) this._recompute(space, keys, source);
  },

  /** Asks for a space again from its cursor (or from nothing after `reset` or repeated gaps). */
  _resync(space, reset) {
    space._synced = false;
    space._resyncs++;
    if (reset || space._resyncs > 3) space._forceSnapshot = true;
    if (this._mode === 'websocket') {
      const conn = this._ws;
      if (conn && conn.welcomed) this._sendHello(conn, [space]);
    } else if (this._mode === 'sse') {
      this._openStream(space);
    } else {
      this._requestSync({ mutations: false }).catch(() => {});
    }
    this._updateStatus();
  },

  /** Recomputes the view of `keys` (all when null) and emits one `change` event for what differs. */
  _recompute(space, keys, source) {
    const opsByKey = new Map();
    for (const e of this._overlay.values()) {
      if (e.space !== space.name) continue;
      for (const op of e.ops) {
        const k = docKey(op.collection, op.id);
        if (!opsByKey.has(k)) opsByKey.set(k, []);
        opsByKey.get(k).push(op);
      }
    }
    let all = keys;
    if (!all) {
      all = new Set([...space._view.keys(), ...space._data.docs.keys(), ...space._ahead.keys(), ...opsByKey.keys()]);
    }
    const changes = [];
    for (const k of all) {
      const before = space._view.get(k) || null;
      const after = rebaseDoc(space._baseDoc(k), opsByKey.get(k));
      if (after) space._view.set(k, after);
      else space._view.delete(k);
      const same = before === after || (before && after && !!before.pending === !!after.pending && before.version === after.version && deepEqual(before.value, after.value));
      if (same || (!before && !after)) continue;
      const { collection, id } = splitKey(k);
      changes.push({ collection, id, value: after ? clone(after.value) : undefined, previous: before ? clone(before.value) : undefined, version: after ? after.version : undefined, pending: !!(after && after.pending) });
    }
    if (changes.length) space._emit({ space: space.name, source, changes });
  },

  _recomputeEntry(entry, source) {
    const space = this._spaces.get(entry.space);
    if (space) this._recompute(space, new Set(entry.ops.map((op) => docKey(op.collection, op.id))), source);
  },
};
