// Time: reconnect backoff, staleness and the sync badge's relative words.

import { DEFAULTS } from './constants.js';

function toMs(t) {
  if (t === null || t === undefined) return null;
  if (t instanceof Date) return t.getTime();
  return typeof t === 'number' ? t : new Date(t).getTime();
}

/**
 * Reconnect delay with exponential backoff and full jitter: a uniform random
 * delay in `[0, min(maxMs, baseMs * 2^attempt))`. `attempt` counts from 0.
 */
export function backoffDelay(attempt, { baseMs = DEFAULTS.backoffBaseMs, maxMs = DEFAULTS.backoffMaxMs, random = Math.random } = {}) {
  const n = Math.max(0, Math.floor(Number(attempt) || 0));
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(n, 40));
  return Math.floor(random() * ceiling);
}

/** True when `lastSynced` (Date, ms or ISO string; null = never) is at least `staleAfterMs` old. */
export function isStale(lastSynced, now = Date.now(), staleAfterMs = DEFAULTS.staleAfterMs) {
  const t = toMs(lastSynced);
  if (t === null || Number.isNaN(t)) return true;
  return now - t >= staleAfterMs;
}

/**
 * The sync badge's words (seed 000): `"just now"` under a minute, `"2m ago"`
 * under `staleAfterMs` (5 minutes), `"stale"` from then on, `"never"` before
 * the first sync.
 */
export function relativeTime(lastSynced, now = Date.now(), staleAfterMs = DEFAULTS.staleAfterMs) {
  const t = toMs(lastSynced);
  if (t === null || Number.isNaN(t)) return 'never';
  const age = now - t;
  if (age >= staleAfterMs) return 'stale';
  if (age < 60_000) return 'just now';
  return `${Math.floor(age / 60_000)}m ago`;
}
