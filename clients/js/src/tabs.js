// Tabs of one user in one browser share a BroadcastChannel:
//   pending {entry}          a write made (or re-folded) in a tab: shown at once elsewhere
//   result  {clientId, mutationId, result}   its ack / reject
//   events  {space, epoch, from, to, events} server events a tab applied (versioned: safe to apply)
//   drop    {keys}           entries renumbered away
//   bye                      a tab closed: look for its queue now

import { hash32 } from './util.js';

/** TidemarkClient methods: the BroadcastChannel between tabs. */
export const tabMethods = {
  _openChannel() {
    const BC = this._env.BroadcastChannel;
    if (!BC || this._bc) return;
    try {
      this._bc = new BC(`tidemark:v1:${hash32(this._http)}:${this.user === null ? '~' : this.user}`);
      this._bc.onmessage = (ev) => this._onBroadcast(ev.data);
    } catch {
      this._bc = null;
    }
  },

  _broadcast(msg) {
    if (!this._bc) return;
    try {
      this._bc.postMessage({ ...msg, tab: this._tabId });
    } catch {
      // ignore (closing)
    }
  },

  _onBroadcast(msg) {
    if (!msg || msg.tab === this._tabId || this._closed) return;
    switch (msg.t) {
      case 'pending': {
        const e = msg.entry;
        if (!e || this._slots.has(e.clientId)) return;
        const key = `${e.clientId}:${e.mutationId}`;
        const prev = this._overlay.get(key);
        this._overlay.set(key, { ...e, ackVersion: prev ? prev.ackVersion : null });
        this._recomputeEntry(e, 'tab');
        this._updateStatus();
        break;
      }
      case 'result': {
        if (this._slots.has(msg.clientId)) return;
        this._onResult(msg.clientId, msg.mutationId, msg.result, true);
        break;
      }
      case 'events': {
        const space = this._spaces.get(msg.space);
        if (space && space._data.epoch === msg.epoch) this._applyAnswer(space, { type: 'events', epoch: msg.epoch, from: msg.from, to: msg.to, events: msg.events }, 'tab');
        break;
      }
      case 'drop': {
        for (const key of msg.keys || []) {
          const e = this._overlay.get(key);
          if (!e || this._slots.has(e.clientId)) continue;
          this._overlay.delete(key);
          this._recomputeEntry(e, 'tab');
        }
        break;
      }
      case 'bye':
        this._timer('scan', 50, () => this._scanOrphans());
        break;
      default:
        break;
    }
  },
};

/** The wire-safe part of a queue entry (what other tabs need to show it). */
export function wireEntry(e) {
  return { clientId: e.clientId, mutationId: e.mutationId, space: e.space, ops: e.ops, createdAt: e.createdAt, ackVersion: e.ackVersion ?? null };
}
