// The mutation queue of one client id (pure; persisted by slots.js).

import { DEFAULTS } from './constants.js';
import { coalesceOp } from './patch.js';

/**
 * The pending mutations of one client id, in order. Mutation ids are given at
 * enqueue time and increase by one for ever (the server rejects an id that
 * skips ahead), so an entry is never dropped before the server has answered.
 *
 * Debounce: a write with `debounceMs` folds into the queue's tail when that
 * tail is a still-waiting debounced write of the same document in the same
 * space (its window restarts); anything queued behind a waiting entry ends the
 * wait, so order is kept and nothing waits longer than it must. Entries are
 * sent strictly in order: `sendable()` stops at the first one still waiting.
 *
 * Entries are plain JSON (persisted as they are):
 * `{clientId, mutationId, space, ops, createdAt, notBefore, debounce, sent,
 *   attempts, retryAt, ackVersion}`; `ackVersion` is set once acknowledged
 * (the entry then only waits for the server state to catch up).
 */
export class MutationQueue {
  constructor({ clientId, nextId = 1, entries = [], maxOps = DEFAULTS.maxOpsPerMutation } = {}) {
    this.clientId = clientId;
    this.entries = entries.map((e) => ({ ...e, clientId }));
    const top = this.entries.reduce((m, e) => Math.max(m, e.mutationId), 0);
    this.nextId = Math.max(Number(nextId) || 1, top + 1);
    this.maxOps = maxOps;
  }

  /** Entries not yet acknowledged. */
  get pending() {
    return this.entries.filter((e) => e.ackVersion == null);
  }

  /** Queues `op` for `space`. Returns `{entry, coalesced}`. */
  enqueue({ space, op, debounceMs = 0, now = Date.now() }) {
    const tail = this.entries[this.entries.length - 1];
    if (debounceMs > 0 && tail && tail.debounce && !tail.sent && tail.ackVersion == null && tail.space === space && now < tail.notBefore) {
      const ops = foldInto(tail.ops, op, this.maxOps);
      if (ops) {
        tail.ops = ops;
        tail.notBefore = now + debounceMs;
        return { entry: tail, coalesced: true };
      }
    }
    if (tail && !tail.sent && tail.notBefore > now) tail.notBefore = now;
    const entry = {
      clientId: this.clientId,
      mutationId: this.nextId++,
      space,
      ops: [op],
      createdAt: now,
      notBefore: debounceMs > 0 ? now + debounceMs : now,
      debounce: debounceMs > 0,
      sent: false,
      attempts: 0,
      retryAt: 0,
      ackVersion: null,
    };
    this.entries.push(entry);
    return { entry, coalesced: false };
  }

  /** The unacknowledged entries that may be sent at `now`, in order. */
  sendable(now = Date.now()) {
    const out = [];
    for (const e of this.entries) {
      if (e.ackVersion != null) continue;
      if (e.notBefore > now || e.retryAt > now) break;
      out.push(e);
    }
    return out;
  }

  /** When the first waiting entry becomes sendable, or null. */
  nextWakeAt() {
    for (const e of this.entries) {
      if (e.ackVersion != null) continue;
      return Math.max(e.notBefore, e.retryAt);
    }
    return null;
  }

  get(mutationId) {
    return this.entries.find((e) => e.mutationId === mutationId);
  }

  remove(mutationId) {
    const i = this.entries.findIndex((e) => e.mutationId === mutationId);
    if (i < 0) return null;
    return this.entries.splice(i, 1)[0];
  }

  /** Ends every debounce window (page hidden, closing). */
  flushDebounce(now = Date.now()) {
    for (const e of this.entries) if (!e.sent && e.notBefore > now) e.notBefore = now;
  }

  /**
   * Moves the unacknowledged entries to a new client id, numbered from
   * `startId` (after `out_of_order`: the server lost track of the old id).
   * Acknowledged entries are dropped. Returns `[{oldId, entry}]`.
   */
  renumber(clientId, startId = 1) {
    const moved = [];
    this.clientId = clientId;
    this.nextId = startId;
    this.entries = this.entries.filter((e) => e.ackVersion == null);
    for (const e of this.entries) {
      moved.push({ oldId: e.mutationId, entry: e });
      e.clientId = clientId;
      e.mutationId = this.nextId++;
      e.sent = false;
      e.attempts = 0;
      e.retryAt = 0;
    }
    return moved;
  }

  toJSON() {
    return { nextId: this.nextId, entries: this.entries };
  }
}

/** Folds `op` into a debouncing entry's ops (all of one document), or null. */
function foldInto(ops, op, maxOps) {
  if (!ops.every((o) => o.collection === op.collection && o.id === op.id)) return null;
  const merged = coalesceOp(ops[ops.length - 1], op);
  if (merged) return [...ops.slice(0, -1), merged];
  // Patches no single merge patch expresses still share the mutation: the
  // server applies a mutation's ops in order.
  if (op.op === 'patch' && op.if_version === undefined && ops.length < maxOps) return [...ops, op];
  return null;
}
