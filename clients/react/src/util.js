// Small pure helpers shared by the hooks: JSON diffing, the client's clock,
// and seed 001's catalog event names.
import { deepEqual, clone } from 'tidemark-client';

export { deepEqual, clone };

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * The RFC 7396 merge patch turning `from` into `to` (both JSON objects), or
 * `undefined` when they are equal. Members missing from `to` become `null`.
 */
export function diffPatch(from, to) {
  if (!isObject(from) || !isObject(to)) return deepEqual(from, to) ? undefined : clone(to);
  let out;
  for (const k of Object.keys(from)) {
    if (!Object.prototype.hasOwnProperty.call(to, k) || to[k] === undefined) (out ??= {})[k] = null;
  }
  for (const [k, v] of Object.entries(to)) {
    if (v === undefined) continue;
    const had = Object.prototype.hasOwnProperty.call(from, k);
    if (had && deepEqual(from[k], v)) continue;
    // A merge patch cannot carry a literal null member: dropping it is the closest.
    if (v === null) {
      if (had) (out ??= {})[k] = null;
      continue;
    }
    const sub = had && isObject(from[k]) && isObject(v) ? diffPatch(from[k], v) : clone(v);
    if (sub !== undefined) (out ??= {})[k] = sub;
  }
  return out;
}

/**
 * The clock a client runs on. tidemark-client keeps its injected `env`
 * (`now`, `setTimeout`, `clearTimeout`) in `client._env`; using it keeps the
 * hooks' timers (debounce, "2m ago" ticks) on the same clock as the client,
 * which is what makes them testable with a manual clock.
 */
export function clockOf(client) {
  const env = (client && client._env) || {};
  const g = globalThis;
  return {
    now: env.now || (() => Date.now()),
    setTimeout: env.setTimeout || ((fn, ms) => g.setTimeout(fn, ms)),
    clearTimeout: env.clearTimeout || ((h) => g.clearTimeout(h)),
  };
}

/** The client's staleness threshold (5 minutes unless configured). */
export function staleAfterOf(client) {
  return (client && client._opt && client._opt.staleAfterMs) || 300_000;
}

/**
 * Seed 001's event name for a catalog change, the same rule as the server's
 * `domain::catalog::event_name`: a provider whose `status` changed is
 * `provider_status_changed`; a model whose `deprecation_status` changed to
 * anything but `active` is `model_deprecated`.
 */
export function catalogEventName(collection, previous, value) {
  const had = previous !== undefined && previous !== null;
  const has = value !== undefined && value !== null;
  if (!had && !has) return null;
  if (collection === 'providers') {
    if (!had) return 'provider_added';
    if (!has) return 'provider_removed';
    return deepEqual(previous.status, value.status) ? 'provider_updated' : 'provider_status_changed';
  }
  if (collection === 'models') {
    if (!had) return 'model_added';
    if (!has) return 'model_removed';
    const was = previous.deprecation_status;
    const now = value.deprecation_status;
    return !deepEqual(was, now) && now !== 'active' ? 'model_deprecated' : 'model_updated';
  }
  return null;
}

/** True for a change that came from the server (this tab's connection or another tab's). */
export function isRemote(source) {
  return source === 'server' || source === 'tab';
}
