// Offline: a tab taken offline (Chromium's network emulation, which also cuts
// loopback) queues its changes and flushes them in order when back online,
// nothing lost or doubled; a reload while offline shows the cached state.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, loadCatalog, openDemo, waitSynced, token, state, eventsSince, cacheAppShell } from './harness.mjs';

let server;
const browsers = [];
test.before(async () => {
  server = await startServer();
  await loadCatalog(server);
});
test.after(async () => {
  for (const b of browsers) await b.close();
  if (server) await server.stop();
});

async function freshBrowser() {
  const b = await launchBrowser();
  browsers.push(b);
  return b.context;
}

const pending = (page) => page.evaluate(() => window.demo.client.pendingCount);

async function goOffline(context, page) {
  await context.setOffline(true);
  await page.waitForFunction(() => !navigator.onLine && !['synced', 'syncing'].includes(window.demo.client.status), null, { timeout: 10_000 });
}

async function backOnline(context, page) {
  await context.setOffline(false);
  await page.waitForFunction(() => window.demo.client.status === 'synced' && window.demo.client.pendingCount === 0, null, { timeout: 45_000, polling: 100 });
}

test('a tab taken offline queues its changes and flushes them in order when back online, nothing lost or doubled', async () => {
  const context = await freshBrowser();
  const user = 'offline-grace';
  const page = await openDemo(context, server, user);
  await waitSynced(page, { transport: 'websocket' });
  await page.waitForSelector('[data-testid=provider-openai]');
  const tok = await token(server, user);
  const before = await state(server, tok);
  const clientId = await page.evaluate(() => window.demo.client.clientId);

  await goOffline(context, page);
  await page.waitForSelector('[data-testid=badge]:has-text("offline")');

  // Six changes, each depending on the one before.
  await page.check('[data-testid="model-toggle-gpt-4o"]');
  await page.check('[data-testid="model-toggle-gpt-4o-mini"]');
  await page.uncheck('[data-testid="model-toggle-gpt-4o"]');
  await page.check('[data-testid="model-toggle-gpt-4"]');
  await page.check('[data-testid=theme-dark]');
  await page.check('[data-testid=provider-enabled-openai]');
  assert.equal(await pending(page), 6);
  await page.waitForSelector('[data-testid=badge]:has-text("6 changes waiting")');
  // The page shows them; the server has none of them.
  assert.deepEqual(await page.evaluate(() => window.demo.me.get('model_preferences', 'openai')), { enabled_models: ['gpt-4o-mini', 'gpt-4'], is_enabled: true });
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
  assert.equal((await state(server, tok)).version, before.version, 'nothing reached the server while offline');

  await backOnline(context, page);

  // Exactly those six writes, in order, once each.
  const events = await eventsSince(server, tok, { epoch: before.epoch, version: before.version });
  const summary = events.map((e) => ({
    doc: `${e.collection}/${e.id}`,
    value: e.collection === 'settings' ? { theme: e.value.theme } : { enabled_models: e.value.enabled_models, is_enabled: e.value.is_enabled },
  }));
  assert.deepEqual(summary, [
    { doc: 'model_preferences/openai', value: { enabled_models: ['gpt-4o'], is_enabled: false } },
    { doc: 'model_preferences/openai', value: { enabled_models: ['gpt-4o', 'gpt-4o-mini'], is_enabled: false } },
    { doc: 'model_preferences/openai', value: { enabled_models: ['gpt-4o-mini'], is_enabled: false } },
    { doc: 'model_preferences/openai', value: { enabled_models: ['gpt-4o-mini', 'gpt-4'], is_enabled: false } },
    { doc: 'settings/ui', value: { theme: 'dark' } },
    { doc: 'model_preferences/openai', value: { enabled_models: ['gpt-4o-mini', 'gpt-4'], is_enabled: true } },
  ]);
  const ids = events.map((e) => e.origin && e.origin.mutation_id);
  assert.ok(events.every((e) => e.origin && e.origin.client_id === clientId), 'all written by the tab');
  assert.deepEqual(ids, ids.map((_, i) => ids[0] + i), `one mutation each, consecutive ids: ${ids}`);
  assert.deepEqual(events.map((e) => e.version), events.map((_, i) => before.version + 1 + i));

  // The page and the server agree.
  const after = await state(server, tok);
  await page.waitForFunction((v) => window.demo.me.version === v, after.version);
  assert.deepEqual(await page.evaluate(() => window.demo.me.get('model_preferences', 'openai')), after.docs.get('model_preferences/openai').value);
  assert.match(await page.innerText('[data-testid=badge]'), /Synced just now/);
});

test('a reload while offline shows the cached state at once, and a change queued offline survives it', async () => {
  const context = await freshBrowser();
  const user = 'offline-heidi';
  const page = await openDemo(context, server, user);
  await waitSynced(page, { transport: 'websocket' });
  await page.waitForSelector('[data-testid=provider-openai]');
  await page.check('[data-testid=theme-dark]');
  await page.check('[data-testid="model-toggle-gpt-4o"]');
  await page.fill('[data-testid=language]', 'de');
  await page.locator('[data-testid=language]').blur();
  await page.waitForFunction(() => window.demo.me.get('settings', 'ui')?.language === 'de' && window.demo.client.pendingCount === 0 && window.demo.client.status === 'synced', null, { timeout: 10_000 });
  const tok = await token(server, user);
  const before = await state(server, tok);

  // The page itself comes from an app-shell cache (what a service worker does); the data from the client's cache.
  await cacheAppShell(context, server);
  await goOffline(context, page);
  await page.check('[data-testid="model-toggle-gpt-4o-mini"]');
  assert.equal(await pending(page), 1);

  await page.reload();
  await page.waitForSelector('#app:not([hidden])', { timeout: 10_000 });
  // Shown from the cache, with no network at all.
  await page.waitForFunction(
    () => {
      const box = (id) => document.querySelector(`[data-testid="model-toggle-${id}"]`);
      return (
        window.demo &&
        document.documentElement.dataset.theme === 'dark' &&
        document.querySelector('[data-testid=language]').value === 'de' &&
        box('gpt-4o') && box('gpt-4o').checked &&
        box('gpt-4o-mini') && box('gpt-4o-mini').checked &&
        document.querySelector('[data-testid=provider-anthropic]') !== null
      );
    },
    null,
    { timeout: 5000 },
  );
  assert.equal(await page.evaluate(() => navigator.onLine), false);
  assert.equal(await pending(page), 1, 'the queued change survived the reload');
  // The client knows when it last synced: offline with fresh data (green), not "connecting" for ever.
  await page.waitForFunction(() => window.demo.client.status === 'disconnected', null, { timeout: 10_000 });
  assert.match(await page.evaluate(() => window.demo.client.lastSyncedRelative()), /^(just now|\dm ago)$/);
  const badge = await page.innerText('[data-testid=badge]');
  assert.match(badge, /^Synced (just now|\dm ago) · offline · 1 change waiting$/, badge);
  assert.equal((await state(server, tok)).version, before.version, 'nothing reached the server while offline');

  await backOnline(context, page);
  const events = await eventsSince(server, tok, { epoch: before.epoch, version: before.version });
  assert.equal(events.length, 1, JSON.stringify(events));
  assert.deepEqual(events[0].value.enabled_models, ['gpt-4o', 'gpt-4o-mini']);
});
