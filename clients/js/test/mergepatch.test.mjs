import test from 'node:test';
import assert from 'node:assert/strict';
import { mergePatch, composePatches, coalesceOp, applyOp } from '../tidemark.js';

// RFC 7396, appendix A
const RFC = [
  [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
  [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
  [{ a: 'b' }, { a: null }, {}],
  [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
  [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
  [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
  [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
  [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
  [['a', 'b'], ['c', 'd'], ['c', 'd']],
  [{ a: 'b' }, ['c'], ['c']],
  [{ a: 'foo' }, null, null],
  [{ a: 'foo' }, 'bar', 'bar'],
  [{ e: null }, { a: 1 }, { e: null, a: 1 }],
  [[1, 2], { a: 'b', c: null }, { a: 'b' }],
  [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
];

test('merge patch: RFC 7396 appendix A', () => {
  for (const [target, patch, want] of RFC) assert.deepEqual(mergePatch(target, patch), want, JSON.stringify([target, patch]));
});

test('merge patch never mutates its inputs', () => {
  const target = { a: { b: 1, c: [1, 2] }, d: 1 };
  const patch = { a: { b: 2 }, d: null, e: { f: 1 } };
  const t0 = structuredClone(target);
  const p0 = structuredClone(patch);
  const out = mergePatch(target, patch);
  assert.deepEqual(target, t0);
  assert.deepEqual(patch, p0);
  out.e.f = 99;
  assert.equal(patch.e.f, 1);
});

test('merge patch keeps a `__proto__` member as data', () => {
  const out = mergePatch({}, JSON.parse('{"__proto__":{"x":1}}'));
  assert.equal(Object.getPrototypeOf(out), Object.prototype);
  assert.deepEqual(Object.keys(out), ['__proto__']);
});

// a small random JSON generator for property checks
function rng(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}
function randomValue(r, depth = 0) {
  const k = r();
  if (depth > 2 || k < 0.3) return [1, 'x', true, null, 0][Math.floor(r() * 5)];
  if (k < 0.4) return [Math.floor(r() * 3)];
  const o = {};
  for (const key of ['a', 'b', 'c']) if (r() < 0.6) o[key] = randomValue(r, depth + 1);
  return o;
}

test('composePatches(p1, p2) has the effect of p1 then p2 (when it exists)', () => {
  const r = rng(7);
  let composed = 0;
  for (let i = 0; i < 3000; i++) {
    const target = randomValue(r);
    const p1 = randomValue(r);
    const p2 = randomValue(r);
    const c = composePatches(p1, p2);
    if (c === undefined) continue;
    composed++;
    assert.deepEqual(mergePatch(target, c), mergePatch(mergePatch(target, p1), p2), JSON.stringify({ target, p1, p2, c }));
  }
  assert.ok(composed > 1500, `composed ${composed}`);
});

test('composePatches keeps deletions and says when it cannot compose', () => {
  assert.deepEqual(composePatches({ a: 1 }, { b: null }), { a: 1, b: null });
  assert.deepEqual(composePatches({ a: { x: 1 } }, { a: { y: 2 } }), { a: { x: 1, y: 2 } });
  assert.deepEqual(composePatches({ a: 1 }, 'whole'), 'whole');
  assert.equal(composePatches({ a: null }, { a: { b: 1 } }), undefined);
  assert.equal(composePatches({ a: 5 }, { a: { b: 1 } }), undefined);
  assert.equal(composePatches('x', { a: 1 }), undefined);
});

test('coalesceOp folds put/patch sequences of one document', () => {
  const t = { collection: 'settings', id: 'ui' };
  const put = (value, extra = {}) => ({ op: 'put', ...t, value, ...extra });
  const patch = (value, extra = {}) => ({ op: 'patch', ...t, value, ...extra });
  assert.deepEqual(coalesceOp(patch({ a: 1 }), patch({ b: 2 })), patch({ a: 1, b: 2 }));
  assert.deepEqual(coalesceOp(put({ a: 1 }, { if_version: 3 }), patch({ b: 2 })), put({ a: 1, b: 2 }, { if_version: 3 }));
  assert.deepEqual(coalesceOp(patch({ a: 1 }, { if_version: 4 }), put({ z: 1 })), put({ z: 1 }, { if_version: 4 }));
  assert.equal(coalesceOp(patch({ a: 1 }), patch({ b: 2 }, { if_version: 1 })), null);
  assert.equal(coalesceOp(patch({ a: 1 }), { op: 'delete', ...t }), null);
  assert.equal(coalesceOp({ op: 'delete', ...t }, patch({ a: 1 })), null);
  assert.equal(coalesceOp(patch({ a: 1 }), { ...patch({ a: 2 }), id: 'other' }), null);
  // folding equals applying one after the other
  const base = { theme: 'light', n: { x: 1 } };
  const p1 = patch({ theme: 'dark', n: { y: 2 } });
  const p2 = patch({ n: { x: null } });
  assert.deepEqual(applyOp(base, coalesceOp(p1, p2)), applyOp(applyOp(base, p1), p2));
});

test('applyOp: put replaces, patch merges onto {} when absent, delete removes', () => {
  assert.deepEqual(applyOp({ a: 1 }, { op: 'put', value: { b: 2 } }), { b: 2 });
  assert.deepEqual(applyOp(undefined, { op: 'patch', value: { b: 2 } }), { b: 2 });
  assert.deepEqual(applyOp('scalar', { op: 'patch', value: { b: 2 } }), { b: 2 });
  assert.equal(applyOp({ a: 1 }, { op: 'delete' }), undefined);
  assert.throws(() => applyOp({}, { op: 'nope' }));
});
