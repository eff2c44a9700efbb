import test from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt, formatCursor, parseCursor, validateOp, baseUrls, deepEqual, docKey, splitKey } from '../tidemark.js';
import { makeToken } from './helpers.mjs';

test('decodeJwt reads sub and exp (base64url, UTF-8)', () => {
  const t = makeToken('zoë', 1_800_000_000, { role: 'admin' });
  assert.deepEqual(decodeJwt(t), { sub: 'zoë', exp: 1_800_000_000, role: 'admin' });
  assert.equal(decodeJwt('opaque'), null);
  assert.equal(decodeJwt('a.!!!.c'), null);
  assert.equal(decodeJwt(undefined), null);
});

test('cursor strings are EPOCH:VERSION', () => {
  assert.equal(formatCursor({ epoch: '01J9ABC', version: 41 }), '01J9ABC:41');
  assert.deepEqual(parseCursor('01J9ABC:41'), { epoch: '01J9ABC', version: 41 });
  assert.deepEqual(parseCursor('a:b:7'), { epoch: 'a:b', version: 7 });
  assert.equal(parseCursor('nocolon'), null);
  assert.equal(parseCursor('e:-1'), null);
  assert.equal(formatCursor(null), '');
});

test('ops are checked before they are queued', () => {
  const ok = { op: 'put', collection: 'model_preferences', id: 'openai/gpt-4', value: { a: 1 } };
  assert.equal(validateOp(ok), null);
  assert.match(validateOp({ ...ok, collection: 'Bad-Name' }), /collection/);
  assert.match(validateOp({ ...ok, id: '' }), /id/);
  assert.match(validateOp({ ...ok, id: 'é'.repeat(257) }), /512 bytes/);
  assert.match(validateOp({ ...ok, value: null }), /non-null/);
  assert.match(validateOp({ ...ok, if_version: -1 }), /ifVersion/);
  assert.equal(validateOp({ op: 'delete', collection: 'c', id: 'x' }), null);
  assert.equal(validateOp({ op: 'patch', collection: 'c', id: 'x', value: null }), null);
});

test('base URLs: http <-> ws, trailing slashes', () => {
  assert.deepEqual(baseUrls('http://127.0.0.1:8080/'), { http: 'http://127.0.0.1:8080', ws: 'ws://127.0.0.1:8080' });
  assert.deepEqual(baseUrls('https://sync.example.com/api'), { http: 'https://sync.example.com/api', ws: 'wss://sync.example.com/api' });
  assert.deepEqual(baseUrls('wss://h'), { http: 'https://h', ws: 'wss://h' });
});

test('deepEqual and doc keys', () => {
  assert.ok(deepEqual({ a: [1, { b: null }] }, { a: [1, { b: null }] }));
  assert.ok(!deepEqual({ a: 1 }, { a: 1, b: undefined }));
  assert.ok(!deepEqual([1], { 0: 1 }));
  assert.deepEqual(splitKey(docKey('models', 'openai/gpt-4')), { collection: 'models', id: 'openai/gpt-4' });
});
