// Team spaces and presence through the real client against a live server
// (TIDEMARK_URL, as live.test.mjs): two users share `team:{id}` like any
// space, see each other present, and a removed member is cut off (error
// `revoked`, nothing later arrives) while the owner carries on.

import test from 'node:test';
import assert from 'node:assert/strict';
import { TidemarkClient, MemoryStorage } from '../tidemark.js';

const URL_ = process.env.TIDEMARK_URL;
const skip = !URL_ ? 'set TIDEMARK_URL to a server running with --dev' : typeof WebSocket === 'undefined' ? 'run node with --experimental-websocket' : false;

async function token(user) {
  const r = await fetch(`${URL_}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, role: 'user' }) });
  assert.equal(r.status, 200);
  return (await r.json()).token;
}

async function api(method, path, tok, body) {
  const r = await fetch(`${URL_}${path}`, { method, headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, body: body && JSON.stringify(body) });
  return { status: r.status, body: r.status === 204 ? null : await r.json() };
}

async function until(fn, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    if (fn()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const clients = [];
function client(tok) {
  const c = new TidemarkClient({ url: URL_, token: tok, transports: ['websocket'], storage: new MemoryStorage(), env: { window: undefined, locks: undefined, BroadcastChannel: undefined } });
  clients.push(c);
  return c;
}
test.afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

test('two users share a team space, see who is present, and a removed member is cut off', { skip }, async () => {
  const stamp = `${process.pid}-${Date.now()}`;
  const [alice, bob] = [`alice-${stamp}`, `bob-${stamp}`];
  const [ta, tb] = [await token(alice), await token(bob)];
  const made = await api('POST', '/v1/teams', ta, { name: 'Live team' });
  assert.equal(made.status, 201);
  const { id, space } = made.body;
  assert.equal((await api('PUT', `/v1/teams/${id}/members/${bob}`, ta, { role: 'editor' })).status, 200);
  const [a, b] = [client(ta), client(tb)];
  const [sa, sb] = [a.space(space), b.space(space)];
  await until(() => a.status === 'synced' && b.status === 'synced', 5000, 'both synced');
  // Shared documents, both ways.
  await sa.put('settings', 'shared', { theme: 'dark' });
  await until(() => sb.get('settings', 'shared')?.theme === 'dark', 2000, 'bob sees alice');
  await sb.patch('settings', 'shared', { language: 'de' });
  await until(() => sa.get('settings', 'shared')?.language === 'de', 2000, 'alice sees bob');
  // Each sees the other present.
  const seen = [];
  sb.on('presence', (e) => seen.push(e.members.length));
  sa.setPresence({ tab: 'settings' });
  sb.setPresence({ typing: true });
  await until(() => sa.presence.length === 2 && sb.presence.length === 2, 2000, 'both present');
  assert.deepEqual(sb.presence.find((p) => p.user === alice).state, { tab: 'settings' });
  assert.ok(seen.length > 0, 'presence events fired');
  // Bob is removed: his space says `revoked`, nothing later reaches him.
  assert.equal((await api('DELETE', `/v1/teams/${id}/members/${bob}`, ta)).status, 204);
  await until(() => sb.error?.code === 'revoked', 2000, 'bob revoked');
  // His other spaces go on syncing: the client is not in error for it.
  const own = b.space('user:me');
  await own.put('notes', 'still', { ok: true });
  await until(() => b.status === 'synced', 2000, 'bob synced apart from the team');
  await until(() => sa.presence.length === 1, 2000, 'bob gone from presence');
  await sa.put('settings', 'after', { secret: true });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(sb.get('settings', 'after'), undefined);
  await assert.rejects(sb.put('settings', 'x', { a: 1 }), (e) => e.code === 'forbidden');
  assert.equal(sa.get('settings', 'after').secret, true);
});
