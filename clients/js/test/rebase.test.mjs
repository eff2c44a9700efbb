import test from 'node:test';
import assert from 'node:assert/strict';
import { rebase, rebaseDoc, docKey } from '../tidemark.js';

const doc = (id, version, value, collection = 'settings') => ({ collection, id, version, value });
const docs = (...ds) => new Map(ds.map((d) => [docKey(d.collection, d.id), d]));
const m = (...ops) => ({ ops });
const patch = (id, value) => ({ op: 'patch', collection: 'settings', id, value });
const put = (id, value) => ({ op: 'put', collection: 'settings', id, value });
const del = (id) => ({ op: 'delete', collection: 'settings', id });

test('rebaseDoc: no pending ops is the server doc itself', () => {
  const d = doc('ui', 4, { theme: 'dark' });
  assert.equal(rebaseDoc(d, []), d);
  assert.equal(rebaseDoc(undefined, undefined), null);
});

test('rebaseDoc: pending ops apply in order and mark the doc pending', () => {
  const d = doc('ui', 4, { theme: 'dark', lang: 'en' });
  const v = rebaseDoc(d, [patch('ui', { theme: 'light' }), patch('ui', { lang: 'de' })]);
  assert.deepEqual(v, { collection: 'settings', id: 'ui', version: 4, value: { theme: 'light', lang: 'de' }, pending: true });
  assert.deepEqual(d.value, { theme: 'dark', lang: 'en' }, 'server doc untouched');
  assert.equal(rebaseDoc(d, [del('ui')]), null);
  assert.deepEqual(rebaseDoc(null, [del('ui'), patch('ui', { a: 1 })]).value, { a: 1 });
});

test('rollback after a reject = rebase the remaining pending writes on the server state', () => {
  // The user toggled three things; the server state moved on meanwhile
  // (another device set lang=fr), and the second write is rejected.
  const server = docs(doc('ui', 7, { theme: 'dark', lang: 'fr' }), doc('models', 3, { enabled: ['gpt-4'] }));
  const w1 = m(patch('ui', { theme: 'light' }));
  const w2 = m(put('models', { enabled: [] })); // rejected (conflict)
  const w3 = m(patch('ui', { density: 'compact' }), patch('models', { sort: 'name' }));

  const before = rebase(server, [w1, w2, w3]);
  assert.deepEqual(before.get('settings/ui').value, { theme: 'light', lang: 'fr', density: 'compact' });
  assert.deepEqual(before.get('settings/models').value, { enabled: [], sort: 'name' });

  const after = rebase(server, [w1, w3]);
  assert.deepEqual(after.get('settings/ui').value, { theme: 'light', lang: 'fr', density: 'compact' });
  // w2 is gone, w3's patch still applies on top of the server's value
  assert.deepEqual(after.get('settings/models').value, { enabled: ['gpt-4'], sort: 'name' });
  assert.equal(after.get('settings/models').pending, true);
  // the server map is never modified
  assert.deepEqual(server.get('settings/models').value, { enabled: ['gpt-4'] });
});

test('rebase: an optimistic delete hides the doc; a rejected delete brings it back', () => {
  const server = docs(doc('a', 1, { x: 1 }), doc('b', 2, { y: 1 }));
  const pending = [m(del('a'))];
  assert.equal(rebase(server, pending).has('settings/a'), false);
  assert.deepEqual(rebase(server, []).get('settings/a').value, { x: 1 });
  assert.equal(rebase(server, pending).get('settings/b'), server.get('settings/b'));
});

test('rebase: writes to documents the server does not have yet', () => {
  const v = rebase(new Map(), [m(put('new', { a: 1 })), m(patch('new', { b: 2 }))]);
  assert.deepEqual(v.get('settings/new'), { collection: 'settings', id: 'new', version: 0, value: { a: 1, b: 2 }, pending: true });
});
