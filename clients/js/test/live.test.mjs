// End-to-end against a running server (opt-in): the real wire, real timers.
//   TIDEMARK_URL=http://127.0.0.1:18181 node --experimental-websocket --test test/live.test.mjs
// The server must run with --dev (tokens from POST /dev/token). Skipped when
// TIDEMARK_URL is unset, so `npm test` stays self-contained.
import test from 'node:test';
import assert from 'node:assert/strict';
import { TidemarkClient, MemoryStorage } from '../tidemark.js';

const URL_ = process.env.TIDEMARK_URL;
const skip = URL_ ? false : 'set TIDEMARK_URL to a server running with --dev';

async function token(user, role = 'user') {
  const r = await fetch(`${URL_}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, role }) });
  assert.equal(r.status, 200);
  return (await r.json()).token;
}

/** Minimal EventSource over fetch (Node 20 has none): named events, data lines, CLOSED on error or end. */
class FetchEventSource {
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.listeners = new Map();
    this.onerror = null;
    this.ctrl = new AbortController();
    this.run();
  }
  addEventListener(type, fn) {
    if (!this.listeners.has(type)) this.listeners.set(type, []);
    this.listeners.get(type).push(fn);
  }
  close() {
    this.readyState = 2;
    this.ctrl.abort();
  }
  fail() {
    if (this.readyState === 2) return;
    this.readyState = 2;
    if (this.onerror) this.onerror({});
  }
  async run() {
    try {
      const res = await fetch(this.url, { headers: { accept: 'text/event-stream' }, signal: this.ctrl.signal });
      if (!res.ok) return this.fail();
      this.readyState = 1;
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let m;
        while ((m = buf.match(/\r?\n\r?\n/))) {
          this.dispatch(buf.slice(0, m.index));
          buf = buf.slice(m.index + m[0].length);
        }
      }
      this.fail();
    } catch {
      this.fail();
    }
  }
  dispatch(block) {
    let event = 'message';
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (!line || line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length) for (const fn of this.listeners.get(event) || []) fn({ data: data.join('\n') });
  }
}

const clients = [];
function client(opts) {
  const c = new TidemarkClient({ url: URL_, storage: new MemoryStorage(), env: { EventSource: FetchEventSource, window: undefined, locks: undefined, BroadcastChannel: undefined }, ...opts });
  clients.push(c);
  return c;
}
test.afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

async function until(fn, ms = 3000, what = 'condition') {
  const end = Date.now() + ms;
  for (;;) {
    if (fn()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const user = (t) => `live-${t}-${process.pid}-${Date.now()}`;

for (const transport of ['websocket', 'sse', 'poll']) {
  test(`${transport}: two clients of one user converge within a second`, { skip: skip || (transport === 'websocket' && typeof WebSocket === 'undefined' ? 'run node with --experimental-websocket' : false) }, async () => {
    const tok = await token(user(transport));
    const a = client({ token: tok, transports: [transport] });
    const b = client({ token: async () => tok, transports: [transport] });
    const meA = a.space('user:me');
    const meB = b.space('user:me');
    await until(() => a.status === 'synced' && b.status === 'synced', 5000, 'synced');
    assert.equal(a.transport, transport);
    const t0 = Date.now();
    await meA.put('settings', 'ui', { theme: 'dark', language: 'en' });
    await until(() => meB.get('settings', 'ui')?.theme === 'dark', 1000, 'B sees A');
    await meB.patch('settings', 'ui', { language: 'de' });
    await until(() => meA.get('settings', 'ui')?.language === 'de', 1000, 'A sees B');
    assert.ok(Date.now() - t0 < 2000);
    await until(() => meA.version === meB.version, 1000, 'same version');
    assert.deepEqual(meA.get('settings', 'ui'), meB.get('settings', 'ui'));
    // rapid toggles, in order
    const ps = [];
    for (let i = 0; i < 15; i++) ps.push(meA.patch('toggles', 'openai', { is_enabled: i % 2 === 0, n: i }));
    await Promise.all(ps);
    await until(() => meB.get('toggles', 'openai')?.n === 14, 1000, 'toggles');
    assert.deepEqual(meB.get('toggles', 'openai'), { is_enabled: true, n: 14 });
    // a conflicting write is rolled back and says why
    const v = meA.doc('settings', 'ui').version;
    await assert.rejects(meA.put('settings', 'ui', { theme: 'neon' }, { ifVersion: v - 1 }), (e) => e.code === 'conflict' && e.current.version === v);
    assert.equal(meA.get('settings', 'ui').theme, 'dark');
    // catalog is readable, not writable
    const cat = a.space('catalog');
    await until(() => cat.version >= 0 && a.status === 'synced', 3000, 'catalog');
    await assert.rejects(cat.put('providers', 'x', { a: 1 }), (e) => e.code === 'forbidden');
    assert.equal(cat.get('providers', 'x'), undefined);
  });
}

test('debounced typing becomes one mutation on the real server', { skip: skip || (typeof WebSocket === 'undefined' ? 'needs --experimental-websocket' : false) }, async () => {
  const tok = await token(user('debounce'));
  const a = client({ token: tok });
  const me = a.space('user:me');
  await until(() => a.status === 'synced', 5000, 'synced');
  const before = me.version;
  const ps = [];
  for (const name of ['A', 'Al', 'Ali', 'Alic', 'Alice']) {
    ps.push(me.patch('settings', 'profile', { name }, { debounceMs: 150 }));
    await new Promise((r) => setTimeout(r, 20));
  }
  await Promise.all(ps);
  await until(() => me.version === before + 1, 1000, 'one version');
  assert.deepEqual(me.get('settings', 'profile'), { name: 'Alice' });
});
