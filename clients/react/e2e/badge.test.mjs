// SyncStatusBadge with queued and debounced writes, in real Chromium against
// the real server: a write made offline turns it orange ("Unsaved changes"),
// survives a reload, and lands once when back online; "Save now" sends an
// edit waiting in useSettingsSync's 1.5 s debounce at once.
import test from 'node:test';
import assert from 'node:assert/strict';
import { fixture, waitFor, token, state, eventsSince, openApp, waitIdle, badgeOf, recordWebSockets } from './react.mjs';

// Each test has a browser of its own: one goes offline, the other stops its clock.
const f = fixture();

const UNSAVED = { state: 'unsaved', color: 'orange', label: 'Unsaved changes', saveNow: true };
const waitBadge = (page, st) => page.waitForFunction((s) => document.querySelector('.tidemark-badge')?.dataset.state === s, st, { timeout: 10_000 });

test('offline: the badge turns orange "Unsaved changes", the queued write survives a reload and lands exactly once back online', async () => {
  const context = await f.freshContext();
  const user = 'rx-offline';
  const tok = await token(f.server, user);
  const page = await openApp(context, f.server, { token: tok, show: ['theme', 'badge'] });
  await waitIdle(page);
  await waitBadge(page, 'synced');
  const before = await state(f.server, tok);
  const clientId = await page.evaluate(() => window.t.client.clientId);

  await context.setOffline(true);
  await page.waitForFunction(() => !['synced', 'syncing'].includes(window.t.client.status), null, { timeout: 10_000 });
  await page.click('[data-testid=set-dark]');
  await page.waitForSelector('[data-testid=theme]:text-is("dark")');
  await waitBadge(page, 'unsaved');
  assert.deepEqual(await badgeOf(page), UNSAVED);

  // The app (served by routing, as an app-shell cache would) and the client's cache, with no network.
  await page.reload();
  await page.waitForFunction(() => window.t && window.t.client && document.querySelector('[data-testid=theme]')?.textContent === 'dark', null, { timeout: 10_000 });
  assert.equal(await page.evaluate(() => navigator.onLine), false);
  assert.equal(await page.evaluate(() => window.t.client.pendingCount), 1, 'the queued write survived the reload');
  await waitBadge(page, 'unsaved');
  assert.deepEqual(await badgeOf(page), UNSAVED);
  assert.equal((await state(f.server, tok)).version, before.version, 'nothing reached the server while offline');

  await context.setOffline(false);
  await waitIdle(page, 45_000);
  await waitBadge(page, 'synced');
  assert.match((await badgeOf(page)).label, /^Synced just now$/);

  // Exactly one event: the queued write, from the tab's client id, once.
  const events = await eventsSince(f.server, tok, { epoch: before.epoch, version: before.version });
  assert.equal(events.length, 1, JSON.stringify(events));
  assert.equal(events[0].value.theme, 'dark');
  assert.equal(events[0].origin.client_id, clientId);
  const after = await state(f.server, tok);
  assert.equal(after.version, before.version + 1);
  assert.equal(after.docs.get('settings/ui').value.theme, 'dark');
});

test('"Save now" sends an edit waiting in the 1.5 s debounce at once, while the page\'s clock stands still', async () => {
  const context = await f.freshContext();
  const user = 'rx-savenow';
  const tok = await token(f.server, user);
  let ws;
  const page = await openApp(context, f.server, {
    token: tok,
    show: ['settings', 'badge'],
    setup: async (p) => {
      ws = recordWebSockets(p);
      await p.clock.install();
    },
  });
  await waitIdle(page);
  await page.waitForSelector('[data-testid=settings-status]:text-is("synced")');
  const before = await state(f.server, tok);

  // From here no timer of the page fires: the debounce cannot end by itself.
  const frozenAt = (await page.evaluate(() => Date.now())) + 1000;
  await page.clock.pauseAt(frozenAt);
  const sentBefore = ws.sent.length;
  await page.fill('[data-testid=language]', 'de');
  await page.waitForSelector('[data-testid=settings-status]:text-is("unsaved")');
  await waitBadge(page, 'unsaved');
  assert.deepEqual(await badgeOf(page), UNSAVED);
  assert.deepEqual(ws.sent.slice(sentBefore).filter((m) => m.type === 'mutate'), [], 'nothing sent while the edit waits');

  await page.click('.tidemark-badge__save');
  // The server has it, and the page's clock has not moved: it was not the debounce.
  const value = await waitFor(async () => (await state(f.server, tok)).docs.get('settings/ui')?.value, { what: 'the server to have the edit' });
  assert.deepEqual(value, { language: 'de' });
  assert.equal(await page.evaluate(() => Date.now()), frozenAt);
  const mutates = ws.sent.slice(sentBefore).filter((m) => m.type === 'mutate');
  assert.equal(mutates.length, 1, JSON.stringify(mutates));
  assert.deepEqual(mutates[0].ops, [{ op: 'patch', collection: 'settings', id: 'ui', value: { language: 'de' } }]);
  await waitBadge(page, 'synced');

  // Past the debounce's end nothing more is sent: one write in all.
  await page.clock.runFor(3000);
  await page.waitForSelector('[data-testid=settings-status]:text-is("synced")');
  assert.equal(ws.sent.slice(sentBefore).filter((m) => m.type === 'mutate').length, 1);
  const events = await eventsSince(f.server, tok, { epoch: before.epoch, version: before.version });
  assert.deepEqual(events.map((e) => e.value), [{ language: 'de' }]);
});
