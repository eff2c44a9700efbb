import test from 'node:test';
import assert from 'node:assert/strict';
import { isStale, relativeTime } from '../tidemark.js';

const NOW = Date.UTC(2026, 10, 21, 10, 30, 0);
const ago = (ms) => new Date(NOW - ms);

test('relative time: seed 000 thresholds', () => {
  assert.equal(relativeTime(ago(0), NOW), 'just now');
  assert.equal(relativeTime(ago(59_999), NOW), 'just now');
  assert.equal(relativeTime(ago(60_000), NOW), '1m ago');
  assert.equal(relativeTime(ago(2 * 60_000 + 30_000), NOW), '2m ago');
  assert.equal(relativeTime(ago(4 * 60_000 + 59_999), NOW), '4m ago');
  assert.equal(relativeTime(ago(5 * 60_000), NOW), 'stale');
  assert.equal(relativeTime(ago(6 * 60_000), NOW), 'stale');
  assert.equal(relativeTime(ago(3 * 86_400_000), NOW), 'stale');
});

test('relative time: never synced, clock skew, input kinds', () => {
  assert.equal(relativeTime(null, NOW), 'never');
  assert.equal(relativeTime(undefined, NOW), 'never');
  assert.equal(relativeTime(new Date(NOW + 10_000), NOW), 'just now'); // a clock slightly behind
  assert.equal(relativeTime(NOW - 120_000, NOW), '2m ago'); // epoch ms
  assert.equal(relativeTime(new Date(NOW - 120_000).toISOString(), NOW), '2m ago'); // ISO string
});

test('stale after 5 minutes (configurable), and when never synced', () => {
  assert.equal(isStale(ago(4 * 60_000), NOW), false);
  assert.equal(isStale(ago(5 * 60_000 - 1), NOW), false);
  assert.equal(isStale(ago(5 * 60_000), NOW), true);
  assert.equal(isStale(null, NOW), true);
  assert.equal(isStale(ago(30_000), NOW, 10_000), true);
  assert.equal(relativeTime(ago(30_000), NOW, 10_000), 'stale');
  assert.equal(relativeTime(ago(90_000), NOW, 600_000), '1m ago');
});
