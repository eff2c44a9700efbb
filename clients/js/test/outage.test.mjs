// A database outage on the server: `store_unavailable` rejects are retried
// with the same mutation id (as `unavailable` ones are), and the write lands
// once when the database is back.
import test from 'node:test';
import assert from 'node:assert/strict';
import { TidemarkClient, MemoryStorage } from '../tidemark.js';
import { FakeClock, FakeServer, makeToken, settle } from './helpers.mjs';

test('store_unavailable is retried with the same id and applied once', async () => {
  const clock = new FakeClock();
  const server = new FakeServer(clock);
  const c = new TidemarkClient({
    url: 'http://tidemark.test',
    token: makeToken('alice'),
    storage: new MemoryStorage(),
    transports: ['websocket'],
    env: { now: clock.now, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout, random: () => 0.5, WebSocket: server.WebSocket, fetch: server.fetch, BroadcastChannel: undefined, locks: undefined, window: undefined },
  });
  try {
    const me = c.space('user:me');
    await settle();
    server.storeDownFor = 2;
    let failed = null;
    const p = me.put('settings', 'ui', { theme: 'dark' }).catch((e) => (failed = e));
    for (let i = 0; i < 40 && server.applied.length === 0; i++) {
      await settle();
      await clock.advance(1000);
    }
    await settle();
    assert.equal(failed, null, 'the write is not given up');
    await p;
    assert.equal(server.storeDownFor, 0, 'both refusals were seen');
    assert.equal(server.applied.length, 1, 'applied once');
    const muts = server.frames.filter((f) => f.type === 'mutate');
    assert.ok(muts.length >= 3, 'sent three times');
    assert.ok(muts.every((f) => f.mutation_id === muts[0].mutation_id), 'with one id');
    assert.equal(me.get('settings', 'ui').theme, 'dark');
  } finally {
    c.close();
  }
});
