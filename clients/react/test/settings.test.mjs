// Seed 002's hooks: debounced settings saves and real-time updates.
import test from 'node:test';
import assert from 'node:assert/strict';
import { useState } from 'react';
import { world, probe, h } from './setup.mjs';
import { useSettingsSync, useRealtimeSettings, useStatus } from '../src/index.js';

const put = (collection, id, value) => ({ op: 'put', collection, id, value });

/** The seed's settings page: app state + useSettingsSync. */
function settingsPage(debounceMs = 1500) {
  return probe(() => {
    const [settings, setSettings] = useState({ theme: 'light', language: 'en' });
    const sync = useSettingsSync(settings, setSettings, { debounceMs });
    return { settings, setSettings, ...sync, status: useStatus() };
  });
}

const mutations = (server) => server.frames.filter((f) => f.type === 'mutate');

test('useSettingsSync adopts the server value, then saves edits once, 1500 ms after the last one', async () => {
  const w = world();
  w.server.write('alice', 'user:alice', [put('settings', 'ui', { theme: 'dark', language: 'en' })]);
  const p = settingsPage();
  await w.render(p.element);
  assert.equal(p.current.syncState.status, 'loading');
  await w.advance();
  assert.deepEqual(p.current.settings, { theme: 'dark', language: 'en' }, 'server wins at load');
  assert.equal(p.current.syncState.status, 'synced');
  assert.equal(mutations(w.server).length, 0, 'adopting the server value is not an edit');

  await w.act(() => p.current.setSettings((s) => ({ ...s, language: 'fr' })));
  assert.equal(p.current.syncState.status, 'unsaved');
  assert.equal(p.current.hasUnsavedChanges, true);
  assert.equal(p.current.status.unsavedCount, 1, 'the badge sees the debounced edit');
  await w.advance(1000);
  await w.act(() => p.current.setSettings((s) => ({ ...s, language: 'de' })));
  await w.advance(1000);
  assert.equal(mutations(w.server).length, 0, 'still within 1500 ms of the last edit');
  await w.advance(600);
  const sent = mutations(w.server);
  assert.equal(sent.length, 1, 'one save for the two edits');
  assert.deepEqual(sent[0].ops, [{ op: 'patch', collection: 'settings', id: 'ui', value: { language: 'de' } }], 'only what changed');
  await w.advance();
  assert.equal(p.current.syncState.status, 'synced');
  assert.ok(p.current.syncState.lastSaved instanceof Date);
  assert.deepEqual(w.server.space('user:alice').docs.get('settings/ui').value, { theme: 'dark', language: 'de' });
  await w.done();
});

test('the first save of a new document keeps the app\'s defaults beside the edit', async () => {
  const w = world();
  const p = settingsPage();
  await w.render(p.element);
  await w.advance();
  assert.equal(mutations(w.server).length, 0, 'defaults alone are not an edit');
  await w.act(() => p.current.setSettings((s) => ({ ...s, theme: 'dark' })));
  await w.act(() => p.current.saveNow());
  await w.advance();
  assert.deepEqual(w.server.space('user:alice').docs.get('settings/ui').value, { theme: 'dark', language: 'en' }, 'the whole value is stored');
  assert.deepEqual(p.current.settings, { theme: 'dark', language: 'en' }, 'nothing is lost when the stored value comes back');
  await w.done();
});

test('saveNow sends at once; discard drops the edit; remote changes keep unsaved edits on top', async () => {
  const w = world();
  const p = settingsPage();
  await w.render(p.element);
  await w.advance();
  await w.act(() => p.current.setSettings((s) => ({ ...s, theme: 'dark' })));
  assert.equal(p.current.syncState.status, 'unsaved');
  await w.act(() => p.current.saveNow());
  assert.equal(mutations(w.server).length, 1, 'sent without waiting for the debounce');
  assert.equal(p.current.status.unsavedCount, 0);
  await w.advance(5000);
  assert.equal(mutations(w.server).length, 1, 'the debounce timer was cancelled');
  assert.equal(w.server.space('user:alice').docs.get('settings/ui').value.theme, 'dark');

  // Another device changes the language while this tab has an unsaved theme edit.
  await w.act(() => p.current.setSettings((s) => ({ ...s, theme: 'system' })));
  await w.act(() => w.server.write('alice', 'user:alice', [{ op: 'patch', collection: 'settings', id: 'ui', value: { language: 'pt-BR' } }]));
  assert.deepEqual(p.current.settings, { theme: 'system', language: 'pt-BR' }, 'remote change in, local edit kept');
  assert.equal(p.current.syncState.status, 'unsaved');

  await w.act(() => p.current.discard());
  assert.deepEqual(p.current.settings, { theme: 'dark', language: 'pt-BR' }, 'back to the server value');
  assert.equal(p.current.syncState.status, 'synced');
  await w.advance(5000);
  assert.equal(mutations(w.server).length, 1, 'nothing saved after discard');
  await w.done();
});

test('useRealtimeSettings calls back on remote settings and lockbox changes, and returns its cleanup', async () => {
  const w = world();
  const got = { settings: [], keys: [] };
  const p = probe(() =>
    useRealtimeSettings({
      onSettingsUpdate: (s) => got.settings.push(s),
      onApiKeysUpdate: (k) => got.keys.push(k),
    }),
  );
  await w.render(p.element);
  await w.advance();
  await w.act(() => w.server.write('alice', 'user:alice', [put('settings', 'ui', { theme: 'dark' })]));
  assert.deepEqual(got.settings, [{ theme: 'dark' }]);
  await w.act(() => w.server.write('alice', 'user:alice', [put('lockbox', 'openai', { configured: true, last4: 'abcd', source: 'lockbox', updated_at: '2026-01-01T00:00:00Z' })]));
  assert.deepEqual(got.keys, [{ openai: { configured: true, last4: 'abcd', source: 'lockbox', updated_at: '2026-01-01T00:00:00Z' } }]);

  // This tab's own write is not a remote update.
  await w.act(() => w.client.space('user:me').patch('settings', 'ui', { theme: 'light' }));
  await w.advance();
  assert.equal(got.settings.length, 1);

  const cleanup = p.current;
  assert.equal(typeof cleanup, 'function');
  cleanup();
  assert.equal(w.client.space('user:me')._handlers.size, 0, 'unsubscribed');
  await w.act(() => w.server.write('alice', 'user:alice', [put('settings', 'ui', { theme: 'x' })]));
  assert.equal(got.settings.length, 1);
  await w.done();
});
