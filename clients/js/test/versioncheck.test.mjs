// seed 001's intervals: a 25 s heartbeat and a 30 s version check (GET
// /v1/spaces/{space}/version) while on the WebSocket, which resubscribes a
// space that missed an event. FakeServer + manual clock, no real server.
import test from 'node:test';
import assert from 'node:assert/strict';
import { TidemarkClient, MemoryStorage, DEFAULTS } from '../tidemark.js';
import { FakeClock, FakeServer, channelHub, makeToken } from './helpers.mjs';

function setup(opts = {}) {
  const clock = new FakeClock();
  const server = new FakeServer(clock);
  const client = new TidemarkClient({
    url: 'http://tidemark.test',
    token: makeToken('alice'),
    storage: new MemoryStorage(),
    ...opts,
    env: {
      now: clock.now,
      setTimeout: clock.setTimeout,
      clearTimeout: clock.clearTimeout,
      random: () => 0.5,
      WebSocket: server.WebSocket,
      EventSource: undefined,
      fetch: server.fetch,
      BroadcastChannel: channelHub(),
      locks: undefined,
      window: undefined,
    },
  });
  return { clock, server, client, me: client.space('user:me') };
}

/** A write another node committed whose live event never reached this socket. */
function lostWrite(server, value) {
  server.mutate('alice', null, { mutation_id: 0, space: 'user:alice', ops: [{ op: 'put', collection: 'settings', id: 'ui', value }] });
  server.pendingEvents = []; // not fanned out
}

const versionReads = (server) => server.requests.filter((r) => r.method === 'GET' && r.path === '/v1/spaces/user%3Aalice/version');

test('defaults: 25 s heartbeat, 30 s version check (seed 001)', () => {
  assert.equal(DEFAULTS.pingIntervalMs, 25_000);
  assert.equal(DEFAULTS.versionCheckMs, 30_000);
  assert.ok(DEFAULTS.pongTimeoutMs < DEFAULTS.pingIntervalMs, 'a pong timeout must end before the next ping re-arms it');
});

test('version check: a missed event is caught up from the cursor within versionCheckMs', async () => {
  const { clock, server, client, me } = setup();
  await clock.advance(10);
  assert.equal(client.status, 'synced');
  assert.equal(server.hellos.length, 1);
  lostWrite(server, { theme: 'dark' });
  await clock.advance(29_000);
  assert.equal(me.get('settings', 'ui'), undefined, 'nothing arrives over the socket');
  assert.equal(versionReads(server).length, 0, 'no check before 30 s');
  await clock.advance(1_000);
  assert.equal(versionReads(server).length, 1);
  assert.match(server.requests.find((r) => r.path.endsWith('/version')).path, /^\/v1\/spaces\/user%3Aalice\/version$/);
  assert.equal(server.hellos.length, 2, 'resubscribed');
  assert.deepEqual(server.hellos[1].subscribe, { 'user:alice': { epoch: 'E1', version: 0 } }, 'from the cursor');
  assert.deepEqual(me.get('settings', 'ui'), { theme: 'dark' });
  assert.equal(me.version, 1);
  assert.equal(client.status, 'synced');
  // current: the next checks read /version again and resubscribe nothing
  await clock.advance(60_000);
  assert.equal(versionReads(server).length, 3);
  assert.equal(server.hellos.length, 2);
  client.close();
});

test('version check: another epoch (database restored) brings the new snapshot', async () => {
  const { clock, server, client, me } = setup();
  await clock.advance(10);
  const s = server.space('user:alice');
  s.epoch = 'E2';
  s.log = [];
  lostWrite(server, { theme: 'light' });
  await clock.advance(30_000);
  assert.equal(me.epoch, 'E2');
  assert.deepEqual(me.get('settings', 'ui'), { theme: 'light' });
  client.close();
});

test('versionCheckMs: 0 turns it off; close() stops it', async () => {
  const off = setup({ versionCheckMs: 0 });
  await off.clock.advance(10);
  lostWrite(off.server, { theme: 'dark' });
  await off.clock.advance(120_000);
  assert.equal(versionReads(off.server).length, 0);
  assert.equal(off.me.get('settings', 'ui'), undefined);
  off.client.close();

  const on = setup();
  await on.clock.advance(10);
  assert.equal(on.client._timers.has('version-check'), true);
  on.client.close();
  assert.equal(on.client._timers.has('version-check'), false);
  await on.clock.advance(120_000);
  assert.equal(versionReads(on.server).length, 0);
});

test('no version check in poll mode (the long-poll waits on /version itself)', async () => {
  const { clock, server, client } = setup({ transports: ['poll'] });
  await clock.advance(10);
  assert.equal(client.transport, 'poll');
  await clock.advance(90_000);
  assert.equal(versionReads(server).length, 0, 'only /version?since=N&wait=S long-polls');
  assert.ok(server.requests.some((r) => r.path.includes('/version?since=')));
  client.close();
});

test('the socket closing stops the check until the next welcome', async () => {
  const { clock, server, client } = setup({ transports: ['websocket'] });
  await clock.advance(10);
  assert.equal(client.status, 'synced');
  server.wsUp = false;
  server.closeAll(1006);
  await clock.advance(10);
  assert.equal(client._timers.has('version-check'), false, 'timer cleared with the socket');
  await clock.advance(40_000); // reconnect attempts fail
  assert.notEqual(client.status, 'synced');
  assert.equal(versionReads(server).length, 0);
  client.close();
});
