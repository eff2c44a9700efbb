// A conflicting write (ifVersion) is rolled back in the page, and the user
// is told why.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openDemo, waitSynced, token, docValue } from './harness.mjs';

let server;
let browser;
test.before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
test.after(async () => {
  if (browser) await browser.close();
  if (server) await server.stop();
});

const savedOk = (page) => page.waitForFunction(() => /^saved/.test(document.querySelector('[data-testid=prefs-status]').textContent));
const prefsShown = (page) => page.$eval('[data-testid=prefs]', (el) => JSON.parse(el.value));

test('a conflicting write is rolled back in the page and the user sees why', async () => {
  const user = 'conflict-carol';
  const a = await openDemo(browser.context, server, user);
  const b = await openDemo(browser.context, server, user);
  await Promise.all([waitSynced(a), waitSynced(b)]);

  // A starting point both tabs hold.
  await a.bringToFront();
  await a.fill('[data-testid=prefs]', '{"font_size": 12}');
  await a.click('[data-testid=prefs-save]');
  await savedOk(a);
  await b.waitForFunction(() => window.demo.me.get('settings', 'ui')?.preferences?.font_size === 12 && window.demo.client.pendingCount === 0);
  const baseVersion = await a.evaluate(() => window.demo.me.doc('settings', 'ui').version);

  // Both tabs start editing from that version; B saves first.
  await a.fill('[data-testid=prefs]', '{"font_size": 20}');
  await b.bringToFront();
  await b.fill('[data-testid=prefs]', '{"font_size": 16}');
  await b.click('[data-testid=prefs-save]');
  await savedOk(b);
  const tok = await token(server, user);
  assert.deepEqual((await docValue(server, tok, 'settings', 'ui')).preferences, { font_size: 16 });

  // A saves its edit of the older version: applied at once, then refused and rolled back.
  await a.bringToFront();
  await a.evaluate(() => {
    window.__log = [];
    window.demo.me.on('change', (ev) => {
      for (const c of ev.changes) if (c.collection === 'settings') window.__log.push({ source: ev.source, preferences: c.value && c.value.preferences });
    });
  });
  assert.equal(await a.evaluate(() => window.demo.me.doc('settings', 'ui').version > 0), true);
  await a.click('[data-testid=prefs-save]');
  const notice = a.locator('[data-testid=notice][data-kind=error]', { hasText: 'rolled back' });
  await notice.waitFor({ timeout: 10_000 });
  const text = await notice.innerText();
  assert.match(text, /not saved/);
  assert.match(text, /changed in another tab or device/);
  assert.match(text, new RegExp(`you edited version ${baseVersion}`));
  await a.waitForFunction(() => window.demo.client.pendingCount === 0);

  // The page showed the write at once, then rolled it back to the server's value.
  const log = await a.evaluate(() => window.__log);
  const local = log.findIndex((e) => e.source === 'local' && e.preferences && e.preferences.font_size === 20);
  const back = log.findIndex((e, i) => i > local && e.source === 'rollback' && e.preferences && e.preferences.font_size === 16);
  assert.ok(local >= 0, `the write was applied optimistically first: ${JSON.stringify(log)}`);
  assert.ok(back > local, `then rolled back to the server's value: ${JSON.stringify(log)}`);
  assert.deepEqual(await prefsShown(a), { font_size: 16 });
  assert.deepEqual(await a.evaluate(() => window.demo.me.get('settings', 'ui').preferences), { font_size: 16 });
  assert.match(await a.innerText('[data-testid=prefs-status]'), /conflict/);

  // Nothing of it reached the server or the other tab.
  assert.deepEqual((await docValue(server, tok, 'settings', 'ui')).preferences, { font_size: 16 });
  assert.deepEqual(await prefsShown(b), { font_size: 16 });

  // The draft is not lost: the user can restore it and save it over the new version.
  await notice.getByText('Restore my draft').click();
  assert.deepEqual(await prefsShown(a), { font_size: 20 });
  await a.click('[data-testid=prefs-save]');
  await savedOk(a);
  assert.deepEqual((await docValue(server, tok, 'settings', 'ui')).preferences, { font_size: 20 });
  await b.waitForFunction(() => window.demo.me.get('settings', 'ui')?.preferences?.font_size === 20);
});
