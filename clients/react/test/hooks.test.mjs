// The generic hooks against the real client and the fake server.
import test from 'node:test';
import assert from 'node:assert/strict';
import { world, probe, h } from './setup.mjs';
import { useDoc, useCollection, useMutation, useStatus, useSpace, useTidemarkClient, TidemarkProvider } from '../src/index.js';
import React, { act } from 'react';
import { create } from 'react-test-renderer';

const put = (collection, id, value) => ({ op: 'put', collection, id, value });

test('useDoc shows the cached/snapshot value and updates on a push from another device', async () => {
  const w = world();
  w.server.write('alice', 'user:alice', [put('settings', 'ui', { theme: 'dark' })]);
  const p = probe(() => useDoc('user:me', 'settings', 'ui'));
  await w.render(p.element);
  assert.equal(p.current.loaded, false, 'nothing before the first answer');
  await w.advance();
  assert.deepEqual(p.current.value, { theme: 'dark' });
  assert.equal(p.current.version, 1);
  assert.equal(p.current.pending, false);
  assert.equal(p.current.error, null);

  const before = p.current;
  w.server.write('alice', 'user:alice', [put('settings', 'other', { x: 1 })]);
  await w.advance();
  assert.equal(p.current, before, 'an unrelated document keeps the snapshot identity');

  await w.act(() => w.server.write('alice', 'user:alice', [put('settings', 'ui', { theme: 'light' })]));
  assert.deepEqual(p.current.value, { theme: 'light' });
  assert.equal(p.current.version, 3);
  await w.done();
});

test('StrictMode double mount opens one server subscription and one listener; unmount releases them', async () => {
  const w = world();
  const a = probe(() => useDoc('user:me', 'settings', 'ui'));
  const b = probe(() => useCollection('user:me', 'settings'));
  const c = probe(() => useStatus());
  const root = await w.render(h('div', null, a.element, b.element, c.element), { strict: true });
  await w.advance();
  const space = w.client.space('user:me');
  const subscriptions = w.server.hellos.flatMap((m) => Object.keys(m.subscribe || {}));
  assert.deepEqual(subscriptions, ['user:alice'], 'one server subscription for the space');
  assert.equal(space._handlers.size, 1, "one 'change' listener for all components");
  assert.equal(w.client._handlers.status.size, 1, "one 'status' listener");
  assert.ok(a.renders >= 2, 'StrictMode rendered twice');

  await w.unmount(root);
  assert.equal(space._handlers.size, 0, 'change listener released');
  assert.equal(w.client._handlers.status.size, 0, 'status listener released');
  await w.done();
});

test('useCollection lists the documents sorted by id and keeps identity while unchanged', async () => {
  const w = world();
  w.server.write('alice', 'user:alice', [put('lockbox', 'openai', { configured: true }), put('lockbox', 'anthropic', { configured: false })]);
  const p = probe(() => useCollection('user:me', 'lockbox'));
  await w.render(p.element);
  await w.advance();
  assert.deepEqual(
    p.current.docs.map((d) => d.id),
    ['anthropic', 'openai'],
  );
  assert.deepEqual(p.current.byId.openai, { configured: true });
  const renders = p.renders;
  await w.advance(1000);
  assert.equal(p.renders, renders, 'no re-render without a change');
  await w.done();
});

test('useMutation: optimistic write, pending until acknowledged; useSpace re-renders on change', async () => {
  const w = world();
  const m = probe(() => useMutation());
  const d = probe(() => useDoc('user:me', 'settings', 'ui'));
  const s = probe(() => useSpace('user:me').get('settings', 'ui'));
  await w.render(h('div', null, m.element, d.element, s.element));
  await w.advance();
  let done;
  await w.act(async () => {
    done = m.current.patch('user:me', 'settings', 'ui', { theme: 'dark' });
  });
  const ack = await done;
  assert.equal(ack.version, 1);
  assert.deepEqual(d.all.find((x) => x.pending)?.value, { theme: 'dark' }, 'shown before the ack, pending');
  await w.advance();
  assert.deepEqual(d.current.value, { theme: 'dark' });
  assert.equal(d.current.pending, false);
  assert.deepEqual(s.current, { theme: 'dark' });
  assert.equal(m.current.isPending, false);
  assert.equal(m.current.error, null);
  await w.done();
});

test('useStatus: "just now", then "2m ago" and stale while offline', async () => {
  const w = world();
  const p = probe(() => {
    useDoc('user:me', 'settings', 'ui'); // status needs an open space
    return useStatus();
  });
  await w.render(p.element);
  assert.equal(p.current.status, 'connecting');
  await w.advance();
  assert.equal(p.current.status, 'synced');
  assert.equal(p.current.lastSyncedRelative, 'just now');
  assert.equal(p.current.isStale, false);
  await w.offline();
  assert.equal(p.current.status, 'disconnected');
  await w.advance(2 * 60_000);
  assert.equal(p.current.lastSyncedRelative, '2m ago', 'the clock re-renders the hook');
  await w.advance(3 * 60_000);
  assert.equal(p.current.status, 'stale');
  assert.equal(p.current.isStale, true);
  await w.done();
});

test('TidemarkProvider with options makes one client and closes it on unmount (StrictMode too)', async () => {
  const w = world();
  await w.advance(); // the harness's own client connects first
  const attempts = w.server.wsAttempts;
  const p = probe(() => {
    useDoc('user:me', 'settings', 'ui');
    return { ...useStatus(), client: useTidemarkClient() };
  });
  let root;
  await act(async () => {
    root = create(
      h(
        React.StrictMode,
        null,
        h(
          TidemarkProvider,
          {
            url: 'http://tidemark.test',
            token: w.client._opt.token,
            storage: null,
            env: w.client._opt.env,
          },
          p.element,
        ),
      ),
    );
  });
  await w.advance();
  assert.equal(p.current.status, 'synced');
  assert.equal(w.server.wsAttempts - attempts, 1, 'one client, one connection');
  const made = p.current.client;
  assert.notEqual(made, w.client);
  assert.equal(w.server.conns.size, 2);
  await act(async () => root.unmount());
  await w.advance(10);
  assert.equal(made.status, 'disconnected', 'closed on unmount');
  assert.equal(w.server.conns.size, 1, "only the harness's client is still connected");
  await w.done();
});
