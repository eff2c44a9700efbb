import test from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay } from '../tidemark.js';

const at = (r) => () => r; // a fixed "random"

test('backoff: ceiling doubles from the 1 s base', () => {
  // random just below 1 gives (almost) the ceiling of each attempt
  const near = at(0.999999);
  assert.equal(backoffDelay(0, { random: near }), 999);
  assert.equal(backoffDelay(1, { random: near }), 1999);
  assert.equal(backoffDelay(2, { random: near }), 3999);
  assert.equal(backoffDelay(3, { random: near }), 7999);
  assert.equal(backoffDelay(4, { random: near }), 15999);
});

test('backoff: capped at 30 s, also for huge attempt numbers', () => {
  const near = at(0.999999);
  for (const n of [5, 6, 10, 50, 1000, Number.MAX_SAFE_INTEGER]) {
    const d = backoffDelay(n, { random: near });
    assert.ok(d <= 30_000 && d >= 29_999, `attempt ${n}: ${d}`);
  }
});

test('backoff: full jitter spans [0, ceiling)', () => {
  assert.equal(backoffDelay(3, { random: at(0) }), 0);
  assert.equal(backoffDelay(3, { random: at(0.5) }), 4000);
  // many real random draws stay inside the bounds and are spread out
  const seen = new Set();
  for (let i = 0; i < 2000; i++) {
    const d = backoffDelay(2);
    assert.ok(d >= 0 && d < 4000, String(d));
    seen.add(Math.floor(d / 500));
  }
  assert.equal(seen.size, 8, 'all eight 500 ms buckets of [0, 4 s) are hit');
});

test('backoff: custom base and cap; bad attempts count as 0', () => {
  const near = at(0.999999);
  assert.equal(backoffDelay(2, { baseMs: 100, maxMs: 250, random: near }), 249);
  assert.equal(backoffDelay(-3, { random: near }), 999);
  assert.equal(backoffDelay(NaN, { random: near }), 999);
});
