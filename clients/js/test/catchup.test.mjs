import test from 'node:test';
import assert from 'node:assert/strict';
import { applyCatchUp, applyEvent, emptyState } from '../tidemark.js';

const ev = (version, id, value, op = 'upsert') => ({ space: 'user:alice', version, op, collection: 'settings', id, value, event: null, origin: null, at: '2026-11-21T10:30:00Z' });
const snapshot = (epoch, version, docs) => ({ kind: 'snapshot', epoch, version, docs });
const held = (s) => Object.fromEntries([...s.docs].map(([k, d]) => [k, d.value]));

function stateAt5() {
  const s = emptyState();
  applyCatchUp(s, snapshot('E1', 5, [{ collection: 'settings', id: 'ui', version: 5, value: { theme: 'dark' } }]));
  return s;
}

test('snapshot replaces everything; a null cursor state takes it', () => {
  const s = emptyState();
  s.docs.set('settings/old', { collection: 'settings', id: 'old', version: 1, value: 1 });
  const r = applyCatchUp(s, snapshot('E1', 5, [{ collection: 'settings', id: 'ui', version: 5, value: { theme: 'dark' } }]));
  assert.equal(r.status, 'applied');
  assert.deepEqual(held(s), { 'settings/ui': { theme: 'dark' } });
  assert.deepEqual([s.epoch, s.version], ['E1', 5]);
  assert.deepEqual(r.changed.sort(), ['settings/old', 'settings/ui']);
  assert.equal(r.epochChanged, false);
});

test('snapshot of a new epoch replaces state (epoch change)', () => {
  const s = stateAt5();
  const r = applyCatchUp(s, snapshot('E2', 2, [{ collection: 'settings', id: 'x', version: 2, value: 1 }]));
  assert.equal(r.status, 'applied');
  assert.equal(r.epochChanged, true);
  assert.deepEqual([s.epoch, s.version], ['E2', 2]);
  assert.deepEqual(held(s), { 'settings/x': 1 });
});

test('a late snapshot of the same epoch older than held is ignored, unless forced', () => {
  const s = stateAt5();
  assert.equal(applyCatchUp(s, snapshot('E1', 3, [])).status, 'stale');
  assert.equal(s.version, 5);
  assert.equal(applyCatchUp(s, snapshot('E1', 3, []), { force: true }).status, 'applied');
  assert.equal(s.version, 3);
});

test('events apply in order; from is exclusive, to inclusive', () => {
  const s = stateAt5();
  const r = applyCatchUp(s, { kind: 'events', epoch: 'E1', from: 5, to: 7, events: [ev(6, 'ui', { theme: 'light' }), ev(7, 'lang', 'en')] });
  assert.equal(r.status, 'applied');
  assert.equal(s.version, 7);
  assert.deepEqual(held(s), { 'settings/ui': { theme: 'light' }, 'settings/lang': 'en' });
  assert.equal(s.docs.get('settings/ui').version, 6);
  assert.deepEqual(r.changed, ['settings/ui', 'settings/lang']);
});

test('events: duplicates are dropped by version (overlap and full repeat)', () => {
  const s = stateAt5();
  applyCatchUp(s, { kind: 'events', epoch: 'E1', from: 5, to: 6, events: [ev(6, 'ui', { theme: 'light' })] });
  // an overlapping answer (from 4) and a live event already held
  const r = applyCatchUp(s, { kind: 'events', epoch: 'E1', from: 4, to: 7, events: [ev(5, 'ui', 'OLD'), ev(6, 'ui', 'OLD'), ev(7, 'x', 1)] });
  assert.equal(r.status, 'applied');
  assert.deepEqual(held(s), { 'settings/ui': { theme: 'light' }, 'settings/x': 1 });
  assert.equal(applyCatchUp(s, { kind: 'events', epoch: 'E1', from: 5, to: 7, events: [ev(6, 'ui', 'OLD'), ev(7, 'x', 'OLD')] }).status, 'duplicate');
  assert.equal(applyEvent(s, ev(7, 'x', 'OLD')), 'duplicate');
  assert.equal(s.docs.get('settings/x').value, 1);
});

test('events: a hole is a gap and nothing past it is applied', () => {
  const s = stateAt5();
  assert.equal(applyCatchUp(s, { kind: 'events', epoch: 'E1', from: 6, to: 8, events: [ev(7, 'a', 1), ev(8, 'b', 1)] }).status, 'gap');
  assert.equal(s.version, 5);
  const r = applyCatchUp(s, { kind: 'events', epoch: 'E1', from: 5, to: 8, events: [ev(6, 'a', 1), ev(8, 'b', 1)] });
  assert.equal(r.status, 'gap');
  assert.equal(s.version, 6, 'the contiguous prefix is kept');
  assert.equal(s.docs.has('settings/b'), false);
  const r2 = applyCatchUp(s, { kind: 'events', epoch: 'E1', from: 6, to: 9, events: [ev(7, 'c', 1)] });
  assert.equal(r2.status, 'gap', '`to` not reached');
});

test('events from another epoch, or before any snapshot, ask for a snapshot', () => {
  const s = stateAt5();
  const r = applyCatchUp(s, { kind: 'events', epoch: 'E9', from: 5, to: 6, events: [ev(6, 'a', 1)] });
  assert.deepEqual([r.status, r.reset], ['gap', true]);
  assert.equal(applyEvent(emptyState(), ev(1, 'a', 1)), 'gap');
});

test('delete events remove the doc (value null)', () => {
  const s = stateAt5();
  assert.equal(applyEvent(s, ev(6, 'ui', null, 'delete')), 'applied');
  assert.equal(s.docs.has('settings/ui'), false);
  assert.equal(s.version, 6);
});

test('live event frames: next version applies, old ones drop, a jump is a gap', () => {
  const s = stateAt5();
  assert.equal(applyCatchUp(s, { type: 'event', ...ev(6, 'a', 1) }).status, 'applied');
  assert.equal(applyCatchUp(s, { type: 'event', ...ev(6, 'a', 2) }).status, 'duplicate');
  assert.equal(applyCatchUp(s, { type: 'event', ...ev(9, 'a', 3) }).status, 'gap');
  assert.equal(s.docs.get('settings/a').value, 1);
});

test('up_to_date: current, behind (gap), late (stale), other epoch (reset)', () => {
  const s = stateAt5();
  assert.equal(applyCatchUp(s, { type: 'up_to_date', epoch: 'E1', version: 5 }).status, 'current');
  assert.equal(applyCatchUp(s, { type: 'up_to_date', epoch: 'E1', version: 6 }).status, 'gap');
  assert.equal(applyCatchUp(s, { type: 'up_to_date', epoch: 'E1', version: 4 }).status, 'stale');
  const r = applyCatchUp(s, { type: 'up_to_date', epoch: 'E2', version: 5 });
  assert.deepEqual([r.status, r.reset], ['gap', true]);
  assert.equal(s.version, 5);
});

test('snapshot lists live docs only: null values are skipped', () => {
  const s = emptyState();
  applyCatchUp(s, snapshot('E1', 3, [{ collection: 'c', id: 'a', version: 1, value: null }, { collection: 'c', id: 'b', version: 3, value: 0 }]));
  assert.deepEqual(held(s), { 'c/b': 0 });
});
