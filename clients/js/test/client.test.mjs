// TidemarkClient against the in-memory FakeServer, with a manual clock: the
// whole client (queue, rebase, transports, cache, tabs) without a browser.
import test from 'node:test';
import assert from 'node:assert/strict';
import { settle } from './helpers.mjs';
import { setup, ui } from './world.mjs';

test('first sync: connecting -> synced, snapshot shown, status events', async () => {
  const { clock, server, make, done } = setup();
  server.write('alice', 'user:alice', [{ op: 'put', collection: 'settings', id: 'ui', value: { theme: 'dark' } }]);
  const client = make();
  const statuses = [];
  client.on('status', (s) => statuses.push(s));
  const me = client.space('user:me');
  assert.equal(me.name, 'user:alice', 'user:me resolves through the token sub');
  assert.equal(client.status, 'connecting');
  await clock.advance(10);
  assert.equal(client.status, 'synced');
  assert.equal(client.transport, 'websocket');
  assert.deepEqual(ui(me), { theme: 'dark' });
  assert.equal(client.lastSyncedRelative(), 'just now');
  assert.ok(statuses.includes('synced'));
  assert.equal(server.hellos[0].protocol, 1);
  assert.deepEqual(server.hellos[0].subscribe, { 'user:alice': null });
  done();
});

test('optimistic write shows at once, resolves on ack, converges with the server', async () => {
  const { clock, server, make, done } = setup();
  const client = make();
  const me = client.space('user:me');
  await clock.advance(10);
  const changes = [];
  me.on('change', (e) => changes.push(e));
  const p = me.put('settings', 'ui', { theme: 'light' });
  assert.deepEqual(ui(me), { theme: 'light' }, 'applied before any network');
  assert.equal(me.doc('settings', 'ui').pending, true);
  assert.equal(changes[0].source, 'local');
  assert.equal(client.status, 'syncing');
  const ack = await p;
  assert.deepEqual(ack, { version: 1, noop: false, mutationId: 1 });
  await settle();
  assert.equal(me.doc('settings', 'ui').pending, undefined);
  assert.equal(me.version, 1);
  assert.deepEqual(server.space('user:alice').docs.get('settings/ui').value, { theme: 'light' });
  assert.equal(client.status, 'synced');
  done();
});

test('reject rolls back and re-applies the still-pending writes on the server state', async () => {
  const { clock, server, make, done } = setup();
  server.write('alice', 'user:alice', [{ op: 'put', collection: 'settings', id: 'ui', value: { theme: 'dark', lang: 'fr' } }]);
  const client = make();
  const me = client.space('user:me');
  await clock.advance(10);
  // hold the server's replies so the later write is still pending at the reject
  server.silent = true;
  const bad = me.put('settings', 'ui', { theme: 'neon' }, { ifVersion: 0 }); // conflicts: the doc is at 1
  const good = me.patch('settings', 'ui', { density: 'compact' });
  assert.deepEqual(ui(me), { theme: 'neon', density: 'compact' });
  await settle();
  server.silent = false;
  // replay the two mutate frames (the server processed nothing while silent)
  const frames = server.frames.filter((f) => f.type === 'mutate');
  const conn = [...server.conns][0];
  const rollbacks = [];
  me.on('change', (e) => e.source === 'rollback' && rollbacks.push({ view: ui(me), pending: me.doc('settings', 'ui').pending }));
  server.onFrame(conn, frames[0]);
  await assert.rejects(bad, (e) => e.code === 'conflict' && e.current.version === 1 && /version 1/.test(e.message));
  assert.deepEqual(rollbacks[0], { view: { theme: 'dark', lang: 'fr', density: 'compact' }, pending: true }, 'rebased: server value + the pending patch');
  server.onFrame(conn, frames[1]);
  await good;
  await settle();
  assert.deepEqual(ui(me), { theme: 'dark', lang: 'fr', density: 'compact' });
  assert.equal(me.doc('settings', 'ui').pending, undefined);
  assert.equal(client.pendingCount, 0);
  done();
});

test('rapid toggles are sent in order with increasing mutation ids', async () => {
  const { clock, server, make, done } = setup();
  const client = make();
  const me = client.space('user:me');
  await clock.advance(10);
  const ps = [];
  for (let i = 0; i < 6; i++) ps.push(me.patch('model_preferences', 'openai', { enabled: i % 2 === 0 }));
  ps.push(me.patch('model_preferences', 'openai', { models: ['gpt-4'] }));
  await Promise.all(ps);
  await settle();
  assert.deepEqual(server.applied.map((a) => a.mutation_id), [1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(me.get('model_preferences', 'openai'), { enabled: false, models: ['gpt-4'] });
  assert.equal(me.version, 7, 'every toggle flips the value: one version each');
  done();
});

test('debounceMs coalesces quick patches of one document into one mutation', async () => {
  const { clock, server, make, done } = setup();
  const client = make();
  const me = client.space('user:me');
  await clock.advance(10);
  const typed = ['A', 'Al', 'Ali', 'Alic', 'Alice'];
  const ps = [];
  for (const name of typed) {
    ps.push(me.patch('settings', 'profile', { name }, { debounceMs: 1500 }));
    await clock.advance(200);
  }
  assert.equal(me.get('settings', 'profile').name, 'Alice', 'each keystroke shows at once');
  assert.equal(server.applied.length, 0, 'nothing sent while typing');
  await clock.advance(1300);
  await Promise.all(ps);
  assert.equal(server.applied.length, 1);
  assert.deepEqual(server.applied[0].ops, [{ op: 'patch', collection: 'settings', id: 'profile', value: { name: 'Alice' } }]);
  done();
});

test('offline: writes queue, persist, and flush in order on reconnect; nothing doubled', async () => {
  const { clock, server, storage, make, done } = setup();
  const client = make();
  const me = client.space('user:me');
  await clock.advance(10);
  server.wsUp = false;
  server.httpUp = false;
  server.closeAll(1006);
  await settle();
  assert.equal(client.status, 'disconnected');
  const ps = [me.patch('settings', 'ui', { theme: 'dark' }), me.put('settings', 'lang', { v: 'de' }), me.patch('settings', 'ui', { size: 2 })];
  assert.deepEqual(ui(me), { theme: 'dark', size: 2 });
  const key = [...storage.map.keys()].find((k) => k.includes(':q:'));
  assert.equal(JSON.parse(storage.getItem(key)).entries.length, 3, 'queue persisted');
  await clock.advance(5000);
  server.wsUp = true;
  server.httpUp = true;
  await clock.advance(30_000);
  await Promise.all(ps);
  await settle();
  assert.deepEqual(server.applied.map((a) => a.mutation_id), [1, 2, 3]);
  assert.deepEqual(server.space('user:alice').docs.get('settings/ui').value, { theme: 'dark', size: 2 });
  assert.equal(client.status, 'synced');
  assert.equal(storage.getItem(key), null, 'queue emptied');
  done();
});

test('reload: cached state at once, resume from the cursor', async () => {
  const { clock, server, make, done } = setup();
  server.write('alice', 'user:alice', [{ op: 'put', collection: 'settings', id: 'ui', value: { theme: 'dark' } }]);
  const a = make();
  a.space('user:me');
  await clock.advance(200);
  a.close();
  server.write('alice', 'user:alice', [{ op: 'patch', collection: 'settings', id: 'ui', value: { lang: 'en' } }]);
  server.wsUp = false;
  server.httpUp = false;
  const b = make();
  const me = b.space('user:me');
  assert.deepEqual(ui(me), { theme: 'dark' }, 'cached state before any network');
  assert.equal(me.version, 1);
  assert.equal(b.lastSyncedRelative(), 'just now');
  server.wsUp = true;
  server.httpUp = true;
  await clock.advance(3000);
  const hello = server.hellos[server.hellos.length - 1];
  assert.deepEqual(hello.subscribe['user:alice'], { epoch: 'E1', version: 1 }, 'resumes from the cached cursor');
  assert.deepEqual(ui(me), { theme: 'dark', lang: 'en' }, 'caught up with events');
  done();
});

test('reload while offline shows cached state plus the persisted pending writes', async () => {
  const { clock, server, make, done } = setup();
  const a = make();
  const meA = a.space('user:me');
  await clock.advance(10);
  await meA.put('settings', 'ui', { theme: 'dark' });
  await settle();
  server.wsUp = false;
  server.httpUp = false;
  server.closeAll(1006);
  await settle();
  meA.patch('settings', 'ui', { lang: 'it' }).catch(() => {});
  a.close();
  const b = make();
  const meB = b.space('user:me');
  assert.deepEqual(ui(meB), { theme: 'dark', lang: 'it' });
  assert.equal(meB.doc('settings', 'ui').pending, true);
  done();
});

const syncedKey = (storage, space = 'user:alice') => [...storage.map.keys()].find((k) => k.endsWith(`:t:${space}`));

/** A tab that syncs `user:me` (one doc), then closes: what a reload finds in storage. Returns its lastSynced (ms). */
async function syncAndClose(make, clock, server) {
  server.write('alice', 'user:alice', [{ op: 'put', collection: 'settings', id: 'ui', value: { theme: 'dark' } }]);
  const a = make();
  a.space('user:me');
  await clock.advance(10);
  assert.equal(a.status, 'synced');
  const t = a.lastSynced.getTime();
  a.close();
  return t;
}

test('reload from the cache with the server down: lastSynced restored at once, disconnected (not connecting), then stale, then synced', async () => {
  const { clock, server, storage, make, done } = setup();
  const syncedAt = await syncAndClose(make, clock, server);
  assert.equal(JSON.parse(storage.getItem(syncedKey(storage))), syncedAt, 'lastSynced persisted per user and space');
  await clock.advance(2 * 60_000);
  server.wsUp = false;
  server.httpUp = false;

  const b = make();
  const statuses = [];
  b.on('status', (s) => statuses.push(s));
  const me = b.space('user:me');
  // Right after the reload, before any connection.
  assert.deepEqual(ui(me), { theme: 'dark' }, 'cached state');
  assert.equal(b.lastSynced.getTime(), syncedAt, 'lastSynced restored');
  assert.equal(b.lastSyncedRelative(), '2m ago');
  assert.equal(b.isStale(), false);
  assert.equal(b.status, 'connecting', 'the first attempt is still running');

  await clock.advance(10); // the first WebSocket attempt fails
  assert.equal(b.status, 'disconnected');
  assert.deepEqual(statuses, ['disconnected'], 'one status event for the change');
  assert.equal(b.lastSyncedRelative(), '2m ago');

  // Retries keep failing (on to the fallbacks): it stays disconnected, and turns stale 5 minutes after the last sync.
  await clock.advance(2 * 60_000);
  assert.equal(b.status, 'disconnected');
  assert.equal(b.lastSyncedRelative(), '4m ago');
  await clock.advance(60_000);
  assert.equal(b.status, 'stale', 'turns stale on its own');
  assert.equal(b.isStale(), true);
  assert.equal(b.lastSyncedRelative(), 'stale');
  assert.ok(!statuses.includes('connecting'), `never back to connecting: ${statuses}`);

  // The server comes back.
  server.wsUp = true;
  server.httpUp = true;
  await clock.advance(30_000);
  assert.equal(b.status, 'synced');
  assert.ok(b.lastSynced.getTime() > syncedAt + 5 * 60_000, 'lastSynced updated');
  assert.equal(b.lastSyncedRelative(), 'just now');
  assert.equal(b.isStale(), false);
  assert.equal(JSON.parse(storage.getItem(syncedKey(storage))), b.lastSynced.getTime(), 'and persisted');
  done();
});

test('reload with 10-minute-old cached data while the server is down: stale after the failed attempt', async () => {
  const { clock, server, make, done } = setup();
  const syncedAt = await syncAndClose(make, clock, server);
  await clock.advance(10 * 60_000);
  server.wsUp = false;
  server.httpUp = false;

  const b = make();
  const statuses = [];
  b.on('status', (s) => statuses.push(s));
  const me = b.space('user:me');
  assert.deepEqual(ui(me), { theme: 'dark' });
  assert.equal(b.lastSynced.getTime(), syncedAt);
  assert.equal(b.isStale(), true);
  assert.equal(b.lastSyncedRelative(), 'stale');

  await clock.advance(10);
  assert.equal(b.status, 'stale');
  assert.equal(b.isStale(), true);
  assert.deepEqual(statuses, ['stale'], 'straight to stale, never disconnected');
  await clock.advance(10_000);
  assert.equal(b.status, 'stale');

  server.wsUp = true;
  server.httpUp = true;
  const p = b.forceSync();
  await clock.advance(10);
  await p;
  assert.equal(b.status, 'synced');
  assert.ok(b.lastSynced.getTime() > syncedAt + 10 * 60_000, 'lastSynced updated');
  assert.equal(b.lastSyncedRelative(), 'just now');
  assert.equal(b.isStale(), false);
  done();
});

test('nothing cached and the server down: connecting until the first sync', async () => {
  const { clock, server, make, done } = setup();
  server.wsUp = false;
  server.httpUp = false;
  const client = make();
  client.space('user:me');
  await clock.advance(60_000);
  assert.equal(client.status, 'connecting');
  assert.equal(client.lastSynced, null);
  assert.equal(client.lastSyncedRelative(), 'never');
  server.wsUp = true;
  server.httpUp = true;
  await clock.advance(30_000);
  assert.equal(client.status, 'synced');
  done();
});

test('lastSynced is written to storage whenever the client reaches synced (not only every 5 s)', async () => {
  const { clock, server, storage, make, done } = setup();
  const client = make();
  client.space('user:me');
  await clock.advance(10);
  assert.equal(client.status, 'synced');
  const first = client.lastSynced.getTime();
  assert.equal(JSON.parse(storage.getItem(syncedKey(storage))), first);
  // Lost and back 2 s later: synced again, confirmed at a new time, stored at once.
  server.closeAll(1012);
  await settle();
  assert.equal(client.status, 'disconnected');
  await clock.advance(2000);
  assert.equal(client.status, 'synced');
  assert.ok(client.lastSynced.getTime() > first);
  assert.equal(JSON.parse(storage.getItem(syncedKey(storage))), client.lastSynced.getTime());
  // A reload sees that time, not the older one.
  const t = client.lastSynced.getTime();
  client.close();
  const b = make();
  b.space('user:me');
  assert.equal(b.lastSynced.getTime(), t);
  done();
});

test("a closed tab's queue is sent by the next tab of the user", async () => {
  const { clock, server, make, done } = setup();
  server.wsUp = false;
  server.httpUp = false;
  const a = make();
  const meA = a.space('user:me');
  await clock.advance(10);
  meA.patch('settings', 'ui', { theme: 'dark' }).catch(() => {});
  meA.patch('settings', 'ui', { lang: 'en' }).catch(() => {});
  const cidA = a.clientId;
  a.close();
  server.wsUp = true;
  server.httpUp = true;
  const b = make();
  const meB = b.space('user:me');
  assert.deepEqual(ui(meB), { theme: 'dark', lang: 'en' }, 'shown before it is sent');
  await clock.advance(50);
  assert.equal(b.clientId, cidA, "the free client id with a queue is taken over");
  assert.deepEqual(server.applied.map((x) => [x.client_id, x.mutation_id]), [[cidA, 1], [cidA, 2]]);
  assert.deepEqual(server.space('user:alice').docs.get('settings/ui').value, { theme: 'dark', lang: 'en' });
  done();
});

test('a running tab adopts the queue of a tab that closes, and sends it over POST /v1/sync', async () => {
  const { clock, server, make, done } = setup();
  const b = make();
  b.space('user:me');
  await clock.advance(10);
  server.wsUp = false;
  // tab A cannot reach the server, writes, and closes
  const a = make({ env: { WebSocket: undefined, fetch: async () => { throw new TypeError('offline'); } } });
  const meA = a.space('user:me');
  await clock.advance(10);
  assert.notEqual(a.clientId, b.clientId);
  meA.put('settings', 'ui', { theme: 'from-a' }).catch(() => {});
  await settle();
  const cidA = a.clientId;
  a.close();
  await clock.advance(100);
  const viaSync = server.requests.filter((r) => r.path === '/v1/sync' && r.body.mutations.length);
  assert.equal(viaSync.length, 1);
  assert.equal(viaSync[0].body.mutations[0].client_id, cidA);
  assert.deepEqual(server.applied.map((x) => [x.client_id, x.mutation_id]), [[cidA, 1]]);
  assert.deepEqual(b.space('user:me').get('settings', 'ui'), { theme: 'from-a' });
  done();
});

test('two tabs: an optimistic change reaches the other tab over BroadcastChannel while the server is unreachable', async () => {
  const { clock, server, make, done } = setup();
  const a = make();
  const b = make();
  const meA = a.space('user:me');
  const meB = b.space('user:me');
  await clock.advance(10);
  server.wsUp = false;
  server.httpUp = false;
  server.closeAll(1006);
  await settle();
  meA.patch('settings', 'ui', { theme: 'dark' }).catch(() => {});
  await settle();
  assert.deepEqual(ui(meB), { theme: 'dark' });
  assert.equal(meB.doc('settings', 'ui').pending, true);
  server.wsUp = true;
  server.httpUp = true;
  await clock.advance(30_000);
  assert.deepEqual(ui(meB), { theme: 'dark' });
  assert.equal(meB.doc('settings', 'ui').pending, undefined, 'now server state');
  assert.equal(server.applied.length, 1, 'sent once, by the tab that wrote it');
  done();
});

test('two tabs converge on server changes from either', async () => {
  const { clock, make, done } = setup();
  const a = make();
  const b = make();
  const meA = a.space('user:me');
  const meB = b.space('user:me');
  await clock.advance(10);
  await meA.patch('settings', 'ui', { theme: 'dark' });
  await meB.patch('settings', 'ui', { lang: 'pt' });
  await settle();
  assert.deepEqual(ui(meA), { theme: 'dark', lang: 'pt' });
  assert.deepEqual(ui(meB), { theme: 'dark', lang: 'pt' });
  assert.equal(meA.version, meB.version);
  done();
});

