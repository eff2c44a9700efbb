import test from 'node:test';
import assert from 'node:assert/strict';
import { MutationQueue } from '../tidemark.js';

const patch = (id, value) => ({ op: 'patch', collection: 'settings', id, value });
const put = (id, value, extra = {}) => ({ op: 'put', collection: 'settings', id, value, ...extra });

test('ids increase by one and entries keep their order', () => {
  const q = new MutationQueue({ clientId: 'c-1' });
  const ids = [];
  for (let i = 0; i < 5; i++) ids.push(q.enqueue({ space: 'user:a', op: patch('m', { [`t${i}`]: i % 2 === 0 }), now: 1000 + i }).entry.mutationId);
  assert.deepEqual(ids, [1, 2, 3, 4, 5]);
  assert.deepEqual(q.sendable(2000).map((e) => e.mutationId), [1, 2, 3, 4, 5]);
  assert.ok(q.entries.every((e) => e.clientId === 'c-1'));
});

test('the counter continues from storage and never reuses an id', () => {
  const q = new MutationQueue({ clientId: 'c-1', nextId: 42, entries: [{ mutationId: 40, space: 's', ops: [patch('x', {})], notBefore: 0, retryAt: 0, ackVersion: null }] });
  assert.equal(q.enqueue({ space: 's', op: patch('x', { a: 1 }), now: 0 }).entry.mutationId, 42);
  const q2 = new MutationQueue({ clientId: 'c-1', nextId: 1, entries: [{ mutationId: 9, space: 's', ops: [patch('x', {})], notBefore: 0, retryAt: 0, ackVersion: null }] });
  assert.equal(q2.nextId, 10);
});

test('debounce: quick patches of one document fold into one mutation', () => {
  const q = new MutationQueue({ clientId: 'c' });
  let t = 0;
  const a = q.enqueue({ space: 's', op: patch('ui', { name: 'A' }), debounceMs: 1500, now: t });
  t += 300;
  const b = q.enqueue({ space: 's', op: patch('ui', { name: 'Al' }), debounceMs: 1500, now: t });
  t += 300;
  const c = q.enqueue({ space: 's', op: patch('ui', { bio: 'x' }), debounceMs: 1500, now: t });
  assert.equal(b.coalesced, true);
  assert.equal(c.entry, a.entry);
  assert.equal(q.entries.length, 1);
  assert.deepEqual(q.entries[0].ops, [patch('ui', { name: 'Al', bio: 'x' })]);
  // the window restarts with each fold: nothing is sendable until 600 + 1500
  assert.deepEqual(q.sendable(2099), []);
  assert.equal(q.nextWakeAt(), 2100);
  assert.deepEqual(q.sendable(2100).map((e) => e.mutationId), [1]);
});

test('debounce: no fold after the window, once sent, across documents or spaces', () => {
  const q = new MutationQueue({ clientId: 'c' });
  q.enqueue({ space: 's', op: patch('ui', { a: 1 }), debounceMs: 100, now: 0 });
  assert.equal(q.enqueue({ space: 's', op: patch('ui', { a: 2 }), debounceMs: 100, now: 150 }).coalesced, false, 'window over');
  q.entries[1].sent = true;
  assert.equal(q.enqueue({ space: 's', op: patch('ui', { a: 3 }), debounceMs: 100, now: 160 }).coalesced, false, 'already sent');
  assert.equal(q.enqueue({ space: 's', op: patch('other', { a: 4 }), debounceMs: 100, now: 170 }).coalesced, false, 'other doc');
  assert.equal(q.enqueue({ space: 't', op: patch('other', { a: 5 }), debounceMs: 100, now: 180 }).coalesced, false, 'other space');
  assert.deepEqual(q.entries.map((e) => e.mutationId), [1, 2, 3, 4, 5]);
});

test('debounce: a write queued behind a waiting entry ends its wait (order kept)', () => {
  const q = new MutationQueue({ clientId: 'c' });
  q.enqueue({ space: 's', op: patch('ui', { name: 'A' }), debounceMs: 1500, now: 0 });
  assert.deepEqual(q.sendable(10), []);
  q.enqueue({ space: 's', op: put('toggles', { gpt4: true }), now: 20 });
  assert.deepEqual(q.sendable(20).map((e) => e.mutationId), [1, 2]);
});

test('a waiting head blocks everything behind it (ids must arrive in order)', () => {
  const q = new MutationQueue({ clientId: 'c' });
  q.enqueue({ space: 's', op: patch('a', { x: 1 }), now: 0 });
  q.enqueue({ space: 's', op: patch('b', { x: 1 }), now: 0 });
  q.entries[0].retryAt = 5000; // a retryable reject
  assert.deepEqual(q.sendable(100), []);
  assert.equal(q.nextWakeAt(), 5000);
  assert.deepEqual(q.sendable(5000).map((e) => e.mutationId), [1, 2]);
});

test('acknowledged entries are skipped and do not block', () => {
  const q = new MutationQueue({ clientId: 'c' });
  q.enqueue({ space: 's', op: patch('a', { x: 1 }), now: 0 });
  q.enqueue({ space: 's', op: patch('b', { x: 1 }), now: 0 });
  q.entries[0].ackVersion = 7;
  assert.deepEqual(q.sendable(0).map((e) => e.mutationId), [2]);
  assert.deepEqual(q.pending.map((e) => e.mutationId), [2]);
  q.remove(1);
  assert.deepEqual(q.entries.map((e) => e.mutationId), [2]);
});

test('a put folds a following patch; a version-checked write never folds', () => {
  const q = new MutationQueue({ clientId: 'c' });
  q.enqueue({ space: 's', op: put('ui', { theme: 'dark' }, { if_version: 3 }), debounceMs: 500, now: 0 });
  q.enqueue({ space: 's', op: patch('ui', { lang: 'en' }), debounceMs: 500, now: 100 });
  assert.deepEqual(q.entries[0].ops, [put('ui', { theme: 'dark', lang: 'en' }, { if_version: 3 })]);
  q.enqueue({ space: 's', op: put('ui', { theme: 'x' }, { if_version: 4 }), debounceMs: 500, now: 200 });
  assert.equal(q.entries.length, 2);
});

test('patches no merge patch can compose share one mutation as two ops', () => {
  const q = new MutationQueue({ clientId: 'c' });
  q.enqueue({ space: 's', op: patch('ui', { a: null }), debounceMs: 500, now: 0 });
  q.enqueue({ space: 's', op: patch('ui', { a: { b: 1 } }), debounceMs: 500, now: 10 });
  assert.equal(q.entries.length, 1);
  assert.deepEqual(q.entries[0].ops, [patch('ui', { a: null }), patch('ui', { a: { b: 1 } })]);
});

test('flushDebounce ends every window; renumber moves pending entries to a new id', () => {
  const q = new MutationQueue({ clientId: 'old' });
  q.enqueue({ space: 's', op: patch('a', { x: 1 }), now: 0 });
  q.enqueue({ space: 's', op: patch('b', { x: 1 }), now: 0 });
  q.enqueue({ space: 's', op: patch('c', { x: 1 }), debounceMs: 9999, now: 0 });
  q.flushDebounce(5);
  assert.equal(q.sendable(5).length, 3);
  q.entries[0].ackVersion = 3;
  q.entries[1].sent = true;
  const moved = q.renumber('new', 1);
  assert.deepEqual(moved.map((m) => [m.oldId, m.entry.mutationId]), [[2, 1], [3, 2]]);
  assert.equal(q.nextId, 3);
  assert.ok(q.entries.every((e) => e.clientId === 'new' && !e.sent));
});

test('the queue round-trips through JSON (persistence)', () => {
  const q = new MutationQueue({ clientId: 'c' });
  q.enqueue({ space: 's', op: patch('a', { x: 1 }), debounceMs: 100, now: 0 });
  const stored = JSON.parse(JSON.stringify(q));
  const back = new MutationQueue({ clientId: 'c', ...stored });
  assert.deepEqual(back.entries, q.entries);
  assert.equal(back.nextId, 2);
});
