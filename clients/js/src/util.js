// JSON values, document keys, ids, hashes and base URLs: small helpers every
// other module uses.

export function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Sets an own property, also for the key `__proto__`. */
export function setKey(obj, k, v) {
  if (k === '__proto__') Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
  else obj[k] = v;
}

/** Deep copy of a JSON value (`undefined` stays `undefined`). */
export function clone(v) {
  return v === undefined ? undefined : JSON.parse(JSON.stringify(v));
}

/** Structural equality of two JSON values. */
export function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!Object.prototype.hasOwnProperty.call(b, k) || !deepEqual(a[k], b[k])) return false;
  return true;
}

/** Map key of a document. Collections never contain `/`, so it is unambiguous. */
export function docKey(collection, id) {
  return `${collection}/${id}`;
}

/** Inverse of {@link docKey}. */
export function splitKey(key) {
  const i = key.indexOf('/');
  return { collection: key.slice(0, i), id: key.slice(i + 1) };
}

export function utf8Length(s) {
  return new TextEncoder().encode(s).length;
}

export function randomId(prefix) {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return prefix + c.randomUUID().replace(/-/g, '').slice(0, 20);
  let s = '';
  for (let i = 0; i < 20; i++) s += Math.floor(Math.random() * 36).toString(36);
  return prefix + s;
}

/** FNV-1a, 32 bits, hex: short stable names for storage keys. */
export function hash32(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** Turns `url` into `{http, ws}` bases without a trailing slash. */
export function baseUrls(url) {
  let u = String(url || '').replace(/\/+$/, '');
  if (u.startsWith('ws://')) u = 'http://' + u.slice(5);
  else if (u.startsWith('wss://')) u = 'https://' + u.slice(6);
  const ws = u.startsWith('https://') ? 'wss://' + u.slice(8) : u.startsWith('http://') ? 'ws://' + u.slice(7) : u;
  return { http: u, ws };
}
