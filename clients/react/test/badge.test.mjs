// Seed 000's SyncStatusBadge through every state, on the real client.
import test from 'node:test';
import assert from 'node:assert/strict';
import { useState } from 'react';
import { world, probe, h, textOf } from './setup.mjs';
import { SyncStatusBadge, useDoc, useSettingsSync, badgeState } from '../src/index.js';

// No client pings: lastSynced stays at the first sync, so "2m ago" shows while connected.
const quiet = { pingIntervalMs: 3_600_000, versionCheckMs: 0 };

function badgeOf(root) {
  const span = root.toJSON();
  const buttons = root.root.findAll((n) => n.type === 'button');
  return { state: span.props['data-state'], color: span.props['data-color'], text: textOf(span.children[1]), buttons };
}

const openSpace = probe(() => useDoc('user:me', 'settings', 'ui'));

test('green "Synced just now", "Synced 2m ago", yellow "Stale" after 5 minutes', async () => {
  const w = world({ options: quiet });
  const root = await w.render(h('div', null, openSpace.element, h(SyncStatusBadge)));
  const badge = () => badgeOf({ toJSON: () => root.toJSON().children[0], root: root.root });
  assert.deepEqual([badge().state, badge().color, badge().text], ['syncing', 'blue', 'Connecting…']);
  await w.advance();
  assert.deepEqual([badge().state, badge().color, badge().text], ['synced', 'green', 'Synced just now']);
  await w.advance(2 * 60_000);
  assert.deepEqual([badge().state, badge().color, badge().text], ['synced', 'green', 'Synced 2m ago']);
  await w.advance(3 * 60_000);
  assert.deepEqual([badge().state, badge().color, badge().text], ['stale', 'yellow', 'Stale']);
  // The refresh button pulls, and the badge is fresh again.
  const refresh = badge().buttons.find((b) => b.props['aria-label'] === 'Refresh');
  await w.act(() => refresh.props.onClick());
  await w.advance();
  assert.deepEqual([badge().state, badge().text], ['synced', 'Synced just now']);
  await w.done();
});

test('blue while a write is in flight, grey offline, orange with "Save now" while writes wait, red on error', async () => {
  const w = world();
  const root = await w.render(h('div', null, openSpace.element, h(SyncStatusBadge)));
  const badge = () => badgeOf({ toJSON: () => root.toJSON().children[0], root: root.root });
  await w.advance();
  const me = w.client.space('user:me');

  w.server.silent = true; // hold the ack
  let write;
  await w.act(() => {
    write = me.patch('settings', 'ui', { theme: 'dark' });
  });
  assert.deepEqual([badge().state, badge().color, badge().text], ['syncing', 'blue', 'Syncing…']);
  w.server.silent = false;
  const conn = [...w.server.conns][0];
  await w.act(() => w.server.onFrame(conn, w.server.frames.filter((f) => f.type === 'mutate').at(-1)));
  await write;
  await w.advance();
  assert.equal(badge().state, 'synced');

  await w.offline();
  assert.deepEqual([badge().state, badge().color, badge().text], ['offline', 'grey', 'Offline · synced just now']);
  await w.act(() => {
    me.patch('settings', 'ui', { theme: 'light' }).catch(() => {});
  });
  assert.deepEqual([badge().state, badge().color, badge().text], ['unsaved', 'orange', 'Unsaved changes']);
  const save = badge().buttons.find((b) => b.props.children === 'Save now');
  assert.ok(save, 'a Save now button');
  w.server.wsUp = true;
  w.server.httpUp = true;
  await w.act(() => save.props.onClick());
  await w.advance(10);
  assert.deepEqual(w.server.space('user:alice').docs.get('settings/ui').value, { theme: 'light' }, 'Save now reconnected and flushed the queue');
  assert.equal(badge().state, 'synced');

  const live = [...w.server.conns][0];
  await w.act(() => w.server.toWs(live, { type: 'error', code: 'forbidden', message: 'not yours', space: 'user:alice' }));
  assert.deepEqual([badge().state, badge().color, badge().text], ['error', 'red', 'Sync error']);
  assert.equal(root.toJSON().children[0].props.title, 'not yours');
  await w.done();
});

test('orange while a settings edit waits in its debounce; "Save now" sends it at once', async () => {
  const w = world();
  const page = probe(() => {
    const [settings, setSettings] = useState({ theme: 'light' });
    useSettingsSync(settings, setSettings, { debounceMs: 1500 });
    return { setSettings };
  });
  const root = await w.render(h('div', null, h(SyncStatusBadge), page.element));
  const badge = () => badgeOf({ toJSON: () => root.toJSON().children[0], root: root.root });
  await w.advance();
  assert.equal(badge().state, 'synced');
  await w.act(() => page.current.setSettings({ theme: 'dark' }));
  assert.deepEqual([badge().state, badge().text], ['unsaved', 'Unsaved changes']);
  const save = badge().buttons.find((b) => b.props.children === 'Save now');
  await w.act(() => save.props.onClick());
  assert.equal(w.server.frames.filter((f) => f.type === 'mutate').length, 1, 'sent before the debounce ended');
  await w.advance(10);
  assert.equal(badge().state, 'synced');
  assert.deepEqual(w.server.space('user:alice').docs.get('settings/ui').value, { theme: 'dark' });
  await w.done();
});

test('badgeState precedence', () => {
  const base = { status: 'synced', lastSynced: new Date(0), lastSyncedRelative: 'just now', isStale: false, pendingCount: 0, unsavedCount: 0, error: null };
  assert.equal(badgeState(base).label, 'Synced just now');
  assert.equal(badgeState({ ...base, status: 'syncing', pendingCount: 2 }).state, 'syncing', 'in flight while connected');
  assert.equal(badgeState({ ...base, status: 'disconnected', pendingCount: 2 }).state, 'unsaved', 'queued while offline');
  assert.equal(badgeState({ ...base, status: 'error', unsavedCount: 1 }).state, 'error');
  assert.equal(badgeState({ ...base, status: 'stale', isStale: true, lastSyncedRelative: 'stale' }).label, 'Stale');
  assert.equal(badgeState({ ...base, status: 'disconnected', lastSyncedRelative: '3m ago' }).label, 'Offline · synced 3m ago');
});
