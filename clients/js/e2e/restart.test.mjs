// The server is killed (SIGKILL) and started again on the same port and
// database: the open tabs reconnect by themselves, send what was queued
// meanwhile, and catch up with what happened since, without a reload.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, loadCatalog, openDemo, waitSynced, token, state, patchDoc, eventsSince } from './harness.mjs';

let server;
let browser;
test.before(async () => {
  server = await startServer();
  await loadCatalog(server);
  browser = await launchBrowser();
});
test.after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

test('after the server is killed and restarted, the tabs reconnect and catch up without a reload', async () => {
  const user = 'restart-dave';
  const a = await openDemo(browser.context, server, user);
  const b = await openDemo(browser.context, server, user);
  await Promise.all([waitSynced(a), waitSynced(b)]);
  await a.waitForSelector('[data-testid=provider-openai]');
  const tok = await token(server, user);
  const before = await state(server, tok);
  // A mark that a reload would wipe out.
  for (const p of [a, b]) await p.evaluate(() => (window.__sameDocument = true));

  const { port, db } = server;
  const killed = await server.stop('SIGKILL');
  assert.equal(killed.signal, 'SIGKILL');

  // Both tabs notice, and say so.
  for (const p of [a, b]) {
    await p.waitForFunction(() => window.demo.client.status !== 'synced' && window.demo.client.status !== 'syncing', null, { timeout: 15_000 });
    await p.waitForFunction(() => /offline|Connecting/.test(document.querySelector('[data-testid=badge]').textContent));
  }

  // A change made while the server is down waits in the page.
  await a.bringToFront();
  await a.check('[data-testid="model-toggle-gpt-4o-mini"]');
  await a.waitForFunction(() => window.demo.client.pendingCount === 1);
  await a.waitForSelector('[data-testid=badge]:has-text("1 change waiting")');

  // Same port, same database.
  server = await startServer({ port, db });
  // Another device writes before the tabs are back: they must catch up with it.
  await patchDoc(server, tok, 'settings', 'ui', { language: 'fr' });

  for (const p of [a, b]) {
    await p.waitForFunction(
      () => {
        const d = window.demo;
        const prefs = d.me.get('model_preferences', 'openai');
        return (
          d.client.status === 'synced' &&
          d.client.pendingCount === 0 &&
          d.me.get('settings', 'ui')?.language === 'fr' &&
          prefs && prefs.enabled_models.includes('gpt-4o-mini') &&
          document.querySelector('[data-testid=language]').value === 'fr' &&
          document.querySelector('[data-testid="model-toggle-gpt-4o-mini"]').checked
        );
      },
      null,
      { timeout: 45_000, polling: 100 },
    );
    assert.equal(await p.evaluate(() => window.__sameDocument), true, 'the tab was not reloaded');
    assert.match(await p.innerText('[data-testid=badge]'), /Synced just now/);
  }

  // The server holds both changes, the queued one exactly once, and the tabs hold the server's version.
  const after = await state(server, tok);
  assert.equal(after.epoch, before.epoch, 'same database, same history');
  assert.deepEqual(after.docs.get('model_preferences/openai').value.enabled_models, ['gpt-4o-mini']);
  assert.equal(after.docs.get('settings/ui').value.language, 'fr');
  const events = await eventsSince(server, tok, { epoch: before.epoch, version: before.version });
  assert.equal(events.filter((e) => e.collection === 'model_preferences').length, 1, JSON.stringify(events));
  for (const p of [a, b]) {
    await p.waitForFunction((v) => window.demo.me.version === v, after.version, { timeout: 5000 });
  }
});
