// A space's confirmed server state (`{epoch, version, docs}`): applying live
// events and catch-up answers to it, and cursors. Pure functions, unit-tested.

import { docKey } from './util.js';

/** An empty space state: what a client holds before its first answer. */
export function emptyState() {
  return { epoch: null, version: 0, docs: new Map() };
}

/**
 * Applies one live event to a space state (in place). Returns `"applied"`,
 * `"duplicate"` (version already held: dropped) or `"gap"` (a version is
 * missing, or there is no epoch yet: resubscribe with the cursor).
 */
export function applyEvent(state, ev) {
  if (state.epoch === null) return 'gap';
  if (ev.version <= state.version) return 'duplicate';
  if (ev.version !== state.version + 1) return 'gap';
  const k = docKey(ev.collection, ev.id);
  if (ev.op === 'delete' || ev.value === null || ev.value === undefined) state.docs.delete(k);
  else state.docs.set(k, { collection: ev.collection, id: ev.id, version: ev.version, value: ev.value });
  state.version = ev.version;
  return 'applied';
}

/**
 * Applies a catch-up answer (`snapshot`, `events`, `up_to_date`; the kind is
 * `answer.kind` in POST /v1/sync and `answer.type` in frames) to a space state,
 * in place, as docs/protocol.md says:
 *  - snapshot: replaces everything (also on an epoch change); a snapshot of
 *    the same epoch older than what is held is a late answer and is ignored,
 *    unless `force` (the client asked from a null cursor);
 *  - events: applied in order, duplicates dropped by version; a hole
 *    (`from` past the held version, a missing version, `to` not reached) or
 *    another epoch is a gap;
 *  - up_to_date: nothing to do when it names the held version.
 * Returns `{status, changed, events, epochChanged, reset}`: `status` is
 * `applied`, `current`, `duplicate`, `stale` (late answer ignored) or `gap`
 * (resubscribe; with `reset`, from a null cursor); `changed` lists the docKeys
 * that may differ; `events` the events applied.
 */
export function applyCatchUp(state, answer, { force = false } = {}) {
  const kind = answer.kind || answer.type;
  const out = (status, extra = {}) => ({ status, changed: [], events: [], epochChanged: false, reset: false, ...extra });
  if (kind === 'snapshot') {
    if (!force && state.epoch === answer.epoch && answer.version < state.version) return out('stale');
    const changed = new Set(state.docs.keys());
    const docs = new Map();
    for (const d of answer.docs || []) {
      if (d.value === null || d.value === undefined) continue; // snapshots list live docs only
      const k = docKey(d.collection, d.id);
      docs.set(k, { collection: d.collection, id: d.id, version: d.version, value: d.value });
      changed.add(k);
    }
    const epochChanged = state.epoch !== null && state.epoch !== answer.epoch;
    state.epoch = answer.epoch;
    state.version = answer.version;
    state.docs = docs;
    return out('applied', { changed: [...changed], epochChanged });
  }
  if (kind === 'events') {
    if (state.epoch !== answer.epoch) return out('gap', { reset: true });
    if (answer.from > state.version) return out('gap');
    const changed = [];
    const events = [];
    for (const ev of answer.events || []) {
      const r = applyEvent(state, ev);
      if (r === 'gap') return out('gap', { changed, events });
      if (r === 'applied') {
        changed.push(docKey(ev.collection, ev.id));
        events.push(ev);
      }
    }
    if (state.version < answer.to) return out('gap', { changed, events });
    return out(events.length ? 'applied' : 'duplicate', { changed, events });
  }
  if (kind === 'up_to_date') {
    if (state.epoch !== answer.epoch) return out('gap', { reset: true });
    if (answer.version > state.version) return out('gap');
    if (answer.version < state.version) return out('stale');
    return out('current');
  }
  if (kind === 'event') {
    const r = applyEvent(state, answer);
    if (r === 'applied') return out('applied', { changed: [docKey(answer.collection, answer.id)], events: [answer] });
    return out(r);
  }
  throw new TypeError(`unknown catch-up kind ${kind}`);
}

/** `{epoch, version}` -> `"EPOCH:VERSION"` (SSE ids and the `cursor` parameter). */
export function formatCursor(cursor) {
  return cursor ? `${cursor.epoch}:${cursor.version}` : '';
}

/** `"EPOCH:VERSION"` -> `{epoch, version}`, or null. */
export function parseCursor(s) {
  if (typeof s !== 'string') return null;
  const i = s.lastIndexOf(':');
  if (i <= 0) return null;
  const version = Number(s.slice(i + 1));
  return Number.isSafeInteger(version) && version >= 0 ? { epoch: s.slice(0, i), version } : null;
}
