// Two tabs of one user (one browser), and two browsers of one user, converge
// within a second of a change in either, through the real server.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, loadCatalog, openDemo, waitSynced, token, state, patchDoc, viewOf, watchFor, seenAt } from './harness.mjs';

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

async function browser() {
  const b = await launchBrowser();
  browsers.push(b);
  return b.context;
}

/**
 * Makes a change with `act` in `from` (or, with `from` null, elsewhere) and
 * checks that every page in `to` shows it (`predicate(arg)` holds) within a
 * second of the moment the change appeared where it was made (or, for a
 * change made elsewhere, of the moment `act` started).
 */
async function converges({ from, to, act, predicate, arg, what }) {
  const key = `k${Math.random().toString(36).slice(2)}`;
  for (const p of [from, ...to].filter(Boolean)) await watchFor(p, key, predicate, arg);
  if (from) await from.bringToFront();
  const started = Date.now();
  await act();
  const t0 = from ? await seenAt(from, key, { what: `${what} (where it was made)` }) : started;
  for (const p of to) {
    const t = await seenAt(p, key, { what });
    assert.ok(t - t0 <= 1000, `${what}: took ${t - t0} ms, more than a second`);
  }
}

const themeIs = (t) => document.documentElement.dataset.theme === t && document.querySelector(`[data-testid=theme-${t}]`).checked;
const modelOn = ([pid, id]) => {
  const box = document.querySelector(`[data-testid="model-toggle-${id}"]`);
  const prefs = window.demo.me.get('model_preferences', pid);
  return !!box && box.checked && !!prefs && prefs.enabled_models.includes(id);
};
const languageIs = (l) => document.querySelector('[data-testid=language]').value === l;

test('two tabs of one user converge within a second of a change in either', async () => {
  const ctx = await browser();
  const user = 'tabs-alice';
  const a = await openDemo(ctx, server, user);
  const b = await openDemo(ctx, server, user); // same browser: already signed in
  await Promise.all([waitSynced(a, { transport: 'websocket' }), waitSynced(b, { transport: 'websocket' })]);
  await b.waitForSelector('[data-testid=provider-openai]');

  await converges({ from: a, to: [b], act: () => a.check('[data-testid=theme-dark]'), predicate: themeIs, arg: 'dark', what: 'tab B showing the theme tab A chose' });
  await converges({ from: b, to: [a], act: () => b.check('[data-testid="model-toggle-gpt-4o"]'), predicate: modelOn, arg: ['openai', 'gpt-4o'], what: 'tab A showing the model tab B enabled' });
  // A change from another device (the server's HTTP API) reaches both tabs.
  const tok = await token(server, user);
  await converges({ from: null, to: [a, b], act: () => patchDoc(server, tok, 'settings', 'ui', { language: 'pt-BR' }), predicate: languageIs, arg: 'pt-BR', what: 'both tabs showing a change made on another device' });

  // Both tabs end synced, at the server's version, with the server's documents.
  await Promise.all([waitSynced(a), waitSynced(b)]);
  const s = await state(server, tok);
  for (const page of [a, b]) {
    await page.waitForFunction((v) => window.demo.me.version === v && window.demo.client.pendingCount === 0, s.version, { timeout: 5000 });
    assert.deepEqual(await viewOf(page, 'settings', 'ui'), s.docs.get('settings/ui').value);
    assert.deepEqual(await viewOf(page, 'model_preferences', 'openai'), s.docs.get('model_preferences/openai').value);
  }
  assert.equal(s.docs.get('settings/ui').value.theme, 'dark');
  assert.deepEqual(s.docs.get('model_preferences/openai').value.enabled_models, ['gpt-4o']);
});

test('two browsers of one user (no shared storage or channel) converge within a second through the server', async () => {
  const user = 'tabs-bob';
  const a = await openDemo(await browser(), server, user);
  const b = await openDemo(await browser(), server, user);
  await Promise.all([waitSynced(a, { transport: 'websocket' }), waitSynced(b, { transport: 'websocket' })]);
  await a.waitForSelector('[data-testid=provider-anthropic]');
  await b.waitForSelector('[data-testid=provider-anthropic]');

  await converges({ from: a, to: [b], act: () => a.check('[data-testid=theme-system]'), predicate: themeIs, arg: 'system', what: 'browser B showing the theme browser A chose' });
  await converges({ from: b, to: [a], act: () => b.check('[data-testid="model-toggle-claude-3-5-sonnet-latest"]'), predicate: modelOn, arg: ['anthropic', 'claude-3-5-sonnet-latest'], what: 'browser A showing the model browser B enabled' });

  // Field-level merge: both change different fields of one document at once; both changes win everywhere.
  await a.bringToFront();
  await a.fill('[data-testid=language]', 'de');
  await b.bringToFront();
  await b.check('[data-testid=theme-light]');
  await a.locator('[data-testid=language]').blur();
  const tok = await token(server, user);
  for (const page of [a, b]) {
    await page.waitForFunction(() => {
      const v = window.demo.me.get('settings', 'ui');
      return v && v.language === 'de' && v.theme === 'light' && window.demo.client.pendingCount === 0;
    }, null, { timeout: 10_000 });
  }
  const s = await state(server, tok);
  assert.equal(s.docs.get('settings/ui').value.language, 'de');
  assert.equal(s.docs.get('settings/ui').value.theme, 'light');
});
