// Documents and ops: RFC 7396 merge patch, folding successive ops of one
// document, checking an op, and the optimistic view ("rebase": server docs
// with the pending ops applied on top). Pure functions, unit-tested.

import { isObject, setKey, clone, docKey, utf8Length } from './util.js';

const COLLECTION_RE = /^[a-z0-9_]{1,64}$/;

/** RFC 7396 JSON merge patch; returns a new value and never mutates its inputs. */
export function mergePatch(target, patch) {
  if (!isObject(patch)) return clone(patch);
  const out = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else setKey(out, k, mergePatch(Object.prototype.hasOwnProperty.call(out, k) ? out[k] : undefined, v));
  }
  return out;
}

/**
 * One merge patch with the effect of applying `first` then `second`, or
 * `undefined` when no single merge patch has it (`first` replaced a member
 * with a non-object and `second` then builds an object there: a merge patch
 * cannot say "replace with this object").
 */
export function composePatches(first, second) {
  if (!isObject(second)) return clone(second);
  if (!isObject(first)) return undefined;
  const out = { ...first };
  for (const [k, v] of Object.entries(second)) {
    const had = Object.prototype.hasOwnProperty.call(first, k);
    if (isObject(v) && had) {
      if (!isObject(first[k])) return undefined;
      const c = composePatches(first[k], v);
      if (c === undefined) return undefined;
      setKey(out, k, c);
    } else {
      setKey(out, k, clone(v));
    }
  }
  return out;
}

/**
 * Applies one op to a document value (`undefined` = absent), as the server
 * does: `put` replaces, `patch` merges onto the value (`{}` when absent),
 * `delete` removes. `if_version` is the server's business.
 */
export function applyOp(value, op) {
  switch (op.op) {
    case 'put':
      return clone(op.value);
    case 'patch':
      return mergePatch(value === undefined ? {} : value, op.value);
    case 'delete':
      return undefined;
    default:
      throw new TypeError(`unknown op ${op.op}`);
  }
}

/**
 * Folds a second write of the same document into the first, so a debounced
 * burst becomes one op: put+put = the last put, put+patch = the patched put,
 * patch+patch = the composed patch (all keeping the first op's `if_version`).
 * Returns null when they cannot fold (a delete, a second `if_version`, or
 * patches no single merge patch expresses).
 */
export function coalesceOp(prev, next) {
  if (!prev || prev.collection !== next.collection || prev.id !== next.id) return null;
  if (next.if_version !== undefined) return null; // judged against the server, never the queue
  if (prev.op === 'delete' || next.op === 'delete') return null;
  const base = { collection: prev.collection, id: prev.id };
  const keep = (op) => (prev.if_version === undefined ? op : { ...op, if_version: prev.if_version });
  if (next.op === 'put') return keep({ op: 'put', ...base, value: clone(next.value) });
  if (prev.op === 'put') {
    const value = mergePatch(prev.value, next.value);
    return value === null || value === undefined ? null : keep({ op: 'put', ...base, value });
  }
  const value = composePatches(prev.value, next.value);
  return value === undefined ? null : keep({ op: 'patch', ...base, value });
}

/**
 * A document as the user sees it: the server's `base` doc (or null) with the
 * pending `ops` for it applied in order. Returns null when the result is
 * absent; an optimistic result carries `pending: true` and the base version.
 */
export function rebaseDoc(base, ops) {
  if (!ops || ops.length === 0) return base || null;
  let value = base ? base.value : undefined;
  for (const op of ops) value = applyOp(value, op);
  if (value === undefined) return null;
  return { collection: ops[0].collection, id: ops[0].id, version: base ? base.version : 0, value, pending: true };
}

/**
 * The whole optimistic view: server docs (`Map` docKey -> doc) with every
 * pending mutation (`[{ops}]`, oldest first) re-applied on top. This is what a
 * rollback computes: drop the rejected mutation from `pending` and rebase.
 */
export function rebase(docs, pending) {
  const byKey = new Map();
  for (const m of pending) {
    for (const op of m.ops) {
      const k = docKey(op.collection, op.id);
      if (!byKey.has(k)) byKey.set(k, []);
      byKey.get(k).push(op);
    }
  }
  const view = new Map(docs);
  for (const [k, ops] of byKey) {
    const d = rebaseDoc(docs.get(k), ops);
    if (d) view.set(k, d);
    else view.delete(k);
  }
  return view;
}

/**
 * Checks an op before it is queued (the server checks again): collection
 * `[a-z0-9_]{1,64}`, id 1-512 bytes, a non-null JSON value for `put`, a JSON
 * value for `patch`, a non-negative integer `if_version`. Returns an error
 * message or null.
 */
export function validateOp(op) {
  if (!['put', 'patch', 'delete'].includes(op.op)) return `unknown op ${op.op}`;
  if (typeof op.collection !== 'string' || !COLLECTION_RE.test(op.collection)) return 'collection must match [a-z0-9_]{1,64}';
  if (typeof op.id !== 'string' || op.id.length === 0 || utf8Length(op.id) > 512) return 'document id must be 1 to 512 bytes';
  if (op.op === 'put' && (op.value === undefined || op.value === null)) return 'put needs a non-null value (use delete)';
  if (op.op === 'patch' && op.value === undefined) return 'patch needs a merge patch';
  if (op.if_version !== undefined && !(Number.isSafeInteger(op.if_version) && op.if_version >= 0)) return 'ifVersion must be a non-negative integer';
  if (op.value !== undefined) {
    try {
      JSON.stringify(op.value);
    } catch {
      return 'value must be JSON';
    }
  }
  return null;
}
