// TidemarkClient against the in-memory FakeServer: transports, fallbacks,
// reconnects and tokens (the rest is in client.test.mjs).
import test from 'node:test';
import assert from 'node:assert/strict';
import { makeToken, settle } from './helpers.mjs';
import { setup, ui } from './world.mjs';

test('WebSocket down: backoff, then poll fallback; writes via POST /v1/sync; remote changes via long-poll', async () => {
  const { clock, server, make, done } = setup();
  server.wsUp = false;
  const client = make();
  const me = client.space('user:me');
  await clock.advance(10);
  assert.equal(client.transport, 'websocket');
  await clock.advance(6000); // three failed attempts (0.5 s, 1 s, 2 s with random = 0.5)
  assert.equal(client.transport, 'poll');
  assert.equal(client.status, 'synced');
  await me.put('settings', 'ui', { theme: 'dark' });
  assert.ok(server.requests.some((r) => r.path === '/v1/sync' && r.body.mutations.length === 1));
  server.write('alice', 'user:alice', [{ op: 'patch', collection: 'settings', id: 'ui', value: { lang: 'nl' } }]);
  await settle();
  assert.deepEqual(ui(me), { theme: 'dark', lang: 'nl' }, 'the long-poll woke and synced');
  // WebSocket comes back: the background retry takes over
  server.wsUp = true;
  await clock.advance(31_000);
  assert.equal(client.transport, 'websocket');
  assert.equal(client.status, 'synced');
  done();
});

test('SSE fallback: stream answers and live events; writes over POST /v1/sync', async () => {
  const { clock, server, make, done } = setup({ eventSource: true });
  server.wsUp = false;
  const client = make();
  const me = client.space('user:me');
  await clock.advance(6000);
  assert.equal(client.transport, 'sse');
  assert.equal(client.status, 'synced');
  server.write('alice', 'user:alice', [{ op: 'put', collection: 'settings', id: 'ui', value: { theme: 'dark' } }]);
  await settle();
  assert.deepEqual(ui(me), { theme: 'dark' });
  await me.patch('settings', 'ui', { lang: 'sv' });
  await settle();
  assert.deepEqual(ui(me), { theme: 'dark', lang: 'sv' });
  assert.equal(me.version, 2);
  // the stream dies: it is reopened from the cursor
  server.closeAll();
  await clock.advance(3000);
  const sse = [...server.streams][0];
  assert.ok(sse && sse.es.url.includes('cursor=E1%3A2'), 'reopened with EPOCH:VERSION');
  done();
});

test('transports option: poll only', async () => {
  const { clock, server, make, done } = setup({ transports: ['poll'] });
  const client = make();
  const me = client.space('user:me');
  await clock.advance(10);
  assert.equal(client.transport, 'poll');
  assert.equal(client.status, 'synced');
  assert.equal(server.wsAttempts, 0);
  await me.put('settings', 'ui', { a: 1 });
  assert.equal(server.applied.length, 1);
  done();
});

test('server restart (1012): reconnect with the cursor and catch up', async () => {
  const { clock, server, make, done } = setup();
  const client = make();
  const me = client.space('user:me');
  await clock.advance(10);
  await me.put('settings', 'ui', { theme: 'dark' });
  await settle(); // the event follows the ack
  server.closeAll(1012);
  server.write('alice', 'user:alice', [{ op: 'patch', collection: 'settings', id: 'ui', value: { lang: 'ja' } }]);
  await settle();
  assert.equal(client.status, 'disconnected');
  await clock.advance(1000);
  assert.equal(client.status, 'synced');
  assert.deepEqual(server.hellos[server.hellos.length - 1].subscribe['user:alice'], { epoch: 'E1', version: 1 });
  assert.deepEqual(ui(me), { theme: 'dark', lang: 'ja' });
  done();
});

test('missing pongs: the connection is treated as dead and replaced', async () => {
  const { clock, server, make, done } = setup();
  const client = make();
  client.space('user:me');
  await clock.advance(10);
  const before = server.wsAttempts;
  server.silent = true;
  await clock.advance(25_000 + 10_000 + 10); // pingIntervalMs + pongTimeoutMs
  assert.notEqual(client.status, 'synced');
  server.silent = false;
  await clock.advance(2000);
  assert.ok(server.wsAttempts > before);
  assert.equal(client.status, 'synced');
  done();
});

test('a gap in live events resubscribes from the cursor', async () => {
  const { clock, server, make, done } = setup();
  const client = make();
  const me = client.space('user:me');
  await clock.advance(10);
  const conn = [...server.conns][0];
  // the server "loses" event 1: the client sees 2 first
  server.mutate('alice', null, { mutation_id: 0, space: 'user:alice', ops: [{ op: 'put', collection: 'settings', id: 'a', value: 1 }] });
  server.mutate('alice', null, { mutation_id: 0, space: 'user:alice', ops: [{ op: 'put', collection: 'settings', id: 'b', value: 2 }] });
  const log = server.space('user:alice').log;
  server.toWs(conn, { type: 'event', ...log[1] });
  await settle();
  const hello = server.hellos[server.hellos.length - 1];
  assert.equal(server.hellos.length, 2);
  assert.deepEqual(hello.subscribe, { 'user:alice': { epoch: 'E1', version: 0 } });
  assert.deepEqual([me.get('settings', 'a'), me.get('settings', 'b')], [1, 2]);
  done();
});

test('epoch change: the new snapshot replaces state; acknowledged writes of the old history go', async () => {
  const { clock, server, make, done } = setup();
  const client = make();
  const me = client.space('user:me');
  await clock.advance(10);
  await me.put('settings', 'ui', { theme: 'dark' });
  await settle();
  const s = server.space('user:alice');
  s.docs.clear();
  s.version = 0;
  server.resetEpoch('user:alice', 'E2');
  await settle();
  assert.equal(me.epoch, 'E2');
  assert.equal(ui(me), undefined);
  done();
});

test('4001: a function token is asked again and the socket reconnects', async () => {
  const { clock, server, make, done } = setup();
  let calls = 0;
  const client = make({ token: async () => (calls++, makeToken('alice')) });
  client.space('user:me');
  await clock.advance(10);
  assert.equal(client.status, 'synced');
  assert.equal(calls, 1);
  server.closeAll(4001, 'token expired');
  await clock.advance(10);
  assert.equal(calls, 2);
  assert.equal(client.status, 'synced');
  done();
});

test('token refresh before exp goes over the socket as `auth`', async () => {
  const { clock, server, make, done } = setup();
  const start = Math.floor(clock.now() / 1000);
  let n = 0;
  const client = make({ token: async () => makeToken('alice', start + 600 + 600 * n++) });
  client.space('user:me');
  await clock.advance(10);
  await clock.advance(540_000); // 60 s before exp
  assert.equal(n, 2);
  const auth = server.frames.filter((f) => f.type === 'auth');
  assert.equal(auth.length, 1);
  assert.equal(client.status, 'synced');
  done();
});

test('a string token refused with 4001 is an error', async () => {
  const { clock, server, make, done } = setup();
  const client = make();
  client.space('user:me');
  await clock.advance(10);
  const errors = [];
  client.on('error', (e) => errors.push(e.code));
  server.closeAll(4001, 'token expired');
  await clock.advance(10);
  assert.equal(client.status, 'error');
  assert.deepEqual(errors, ['unauthorized']);
  done();
});

test('status: disconnected, then stale after 5 minutes; forceSync brings it back', async () => {
  const { clock, server, make, done } = setup();
  const client = make();
  client.space('user:me');
  await clock.advance(10);
  server.wsUp = false;
  server.httpUp = false;
  server.closeAll(1006);
  await settle();
  assert.equal(client.status, 'disconnected');
  await clock.advance(2 * 60_000);
  assert.equal(client.lastSyncedRelative(), '2m ago');
  await clock.advance(3 * 60_000);
  assert.equal(client.status, 'stale');
  assert.equal(client.isStale(), true);
  server.wsUp = true;
  server.httpUp = true;
  const p = client.forceSync();
  await clock.advance(10);
  await p;
  assert.equal(client.status, 'synced');
  assert.equal(client.lastSyncedRelative(), 'just now');
  done();
});

test('writes made before the token resolves are shown and then sent', async () => {
  const { clock, server, make, done } = setup();
  let release;
  const gate = new Promise((r) => (release = r));
  const client = make({ token: async () => (await gate, makeToken('alice')) });
  const me = client.space('user:me');
  const p = me.put('settings', 'ui', { theme: 'dark' });
  assert.deepEqual(ui(me), { theme: 'dark' });
  release();
  await clock.advance(10);
  await p;
  assert.equal(me.name, 'user:alice');
  assert.deepEqual(server.applied.map((a) => a.mutation_id), [1]);
  done();
});

test('out_of_order at the head: the writes move to a new client id', async () => {
  const { clock, server, make, storage, done } = setup();
  const client = make();
  const me = client.space('user:me');
  await clock.advance(10);
  await me.put('settings', 'a', { v: 1 });
  const old = client.clientId;
  // storage lost part of the counter: the next id skips ahead of the server
  const nKey = [...storage.map.keys()].find((k) => k.endsWith(`:n:${old}`));
  client._main.queue.nextId = 5;
  storage.setItem(nKey, '5');
  const p = me.put('settings', 'b', { v: 2 });
  await clock.advance(2000);
  await p;
  assert.notEqual(client.clientId, old);
  assert.deepEqual(server.applied.map((a) => [a.client_id === old ? 'old' : 'new', a.mutation_id]), [['old', 1], ['new', 1]]);
  done();
});

test('invalid writes reject at once and change nothing', async () => {
  const { clock, make, done } = setup();
  const client = make();
  const me = client.space('user:me');
  await clock.advance(10);
  await assert.rejects(me.put('Bad', 'x', { a: 1 }), (e) => e.code === 'invalid');
  await assert.rejects(me.put('c', 'x', null), (e) => e.code === 'invalid');
  await assert.rejects(me.put('c', 'x', { n: 10n }), (e) => e.code === 'invalid');
  assert.equal(client.pendingCount, 0);
  done();
});

test('close(): pending writes reject with `closed` but stay queued', async () => {
  const { clock, server, make, storage, done } = setup();
  server.wsUp = false;
  server.httpUp = false;
  const client = make();
  const me = client.space('user:me');
  await clock.advance(10);
  const p = me.put('settings', 'ui', { a: 1 });
  client.close();
  await assert.rejects(p, (e) => e.code === 'closed' && e.queued === true);
  assert.equal(client.status, 'disconnected');
  assert.ok([...storage.map.keys()].some((k) => k.includes(':q:')));
  done();
});

test('page lifecycle: offline drops at once, online reconnects at once, pagehide ends debounce windows', async () => {
  const { clock, server, make, done } = setup();
  const win = new EventTarget();
  const client = make({ env: { window: win } });
  const me = client.space('user:me');
  await clock.advance(10);
  assert.equal(client.status, 'synced');
  server.wsUp = false;
  win.dispatchEvent(new Event('offline'));
  assert.equal(client.status, 'disconnected');
  await clock.advance(100);
  server.wsUp = true;
  win.dispatchEvent(new Event('online'));
  await settle();
  assert.equal(client.status, 'synced', 'no backoff wait after `online`');
  const p = me.patch('settings', 'profile', { name: 'Al' }, { debounceMs: 5000 });
  await clock.advance(10);
  assert.equal(server.applied.length, 0);
  win.dispatchEvent(new Event('pagehide'));
  await settle();
  await p;
  assert.equal(server.applied.length, 1);
  client.close();
  win.dispatchEvent(new Event('online')); // listeners are gone: nothing happens
  done();
});

test("another tab's rejected write is rolled back here too", async () => {
  const { clock, server, make, done } = setup();
  server.write('alice', 'user:alice', [{ op: 'put', collection: 'settings', id: 'ui', value: { theme: 'dark' } }]);
  const a = make();
  const b = make();
  const meA = a.space('user:me');
  const meB = b.space('user:me');
  await clock.advance(10);
  server.silent = true;
  const p = meA.put('settings', 'ui', { theme: 'neon' }, { ifVersion: 0 });
  await settle();
  assert.deepEqual(ui(meB), { theme: 'neon' }, 'shown in B at once');
  server.silent = false;
  server.onFrame([...server.conns].find((c) => c.clientId === a.clientId), server.frames.find((f) => f.type === 'mutate'));
  await assert.rejects(p, (e) => e.code === 'conflict');
  await settle();
  assert.deepEqual(ui(meB), { theme: 'dark' });
  assert.equal(meB.doc('settings', 'ui').pending, undefined);
  done();
});

test('SSE failing too: on to long-polling', async () => {
  const { clock, server, make, done } = setup({ eventSource: true });
  server.wsUp = false;
  server.sseUp = false;
  const seen = [];
  const client = make();
  client.on('status', () => seen.push(client.transport));
  const me = client.space('user:me');
  await clock.advance(18_000);
  assert.deepEqual([...new Set(seen)], ['websocket', 'sse', 'poll']);
  assert.equal(client.transport, 'poll');
  assert.equal(client.status, 'synced');
  await me.put('settings', 'ui', { ok: true });
  assert.equal(server.applied.length, 1);
  done();
});

/** A LockManager with `ifAvailable` (what the client uses of the Web Locks API). */
function fakeLocks() {
  const held = new Set();
  return {
    held,
    request(name, opts, cb) {
      if (held.has(name)) return Promise.resolve(cb(null));
      held.add(name);
      return Promise.resolve(cb({ name })).then(() => held.delete(name));
    },
  };
}

test('Web Locks: live tabs never share a client id; a closed tab frees its id (and queue) at once', async () => {
  const { clock, server, make, done } = setup();
  const locks = fakeLocks();
  server.wsUp = false;
  server.httpUp = false;
  const a = make({ env: { locks } });
  const b = make({ env: { locks } });
  a.space('user:me');
  b.space('user:me');
  await clock.advance(10);
  assert.ok(a.clientId && b.clientId && a.clientId !== b.clientId);
  assert.equal(locks.held.size, 2);
  a.space('user:me').put('settings', 'ui', { from: 'a' }).catch(() => {});
  await settle();
  const cidA = a.clientId;
  a.close();
  await settle();
  assert.equal(locks.held.size, 1, 'released by close');
  server.wsUp = true;
  server.httpUp = true;
  await clock.advance(100);
  // b adopted a's queue after its `bye` and sent it with a's client id
  assert.deepEqual(server.applied.map((x) => [x.client_id, x.mutation_id]), [[cidA, 1]]);
  await clock.advance(5000); // b reconnects, sees the write in the server state, lets a's id go
  assert.equal(locks.held.size, 1);
  const c = make({ env: { locks } });
  c.space('user:me');
  await clock.advance(10);
  assert.equal(c.clientId, cidA, 'the free id is reused');
  done();
});
