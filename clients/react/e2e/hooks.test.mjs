// The generic hooks in real Chromium against the real server: two tabs see
// each other's changes through useDoc/useMutation; StrictMode's double mount
// still opens one connection and one subscription per space; unmounting
// releases every listener the hooks registered on the client.
import test from 'node:test';
import assert from 'node:assert/strict';
import { fixture, token, state, patchDoc, openApp, waitIdle, recordWebSockets } from './react.mjs';

const f = fixture();

const themeShown = (page, theme) => page.waitForFunction((th) => document.querySelector('[data-testid=theme]')?.textContent === th, theme, { timeout: 10_000 });

test('two tabs of one user see each other\'s changes through useDoc and useMutation', async () => {
  const user = 'rx-tabs';
  const tok = await token(f.server, user);
  const a = await openApp(f.context, f.server, { token: tok, show: ['theme', 'collection'] });
  const b = await openApp(f.context, f.server, { token: tok, show: ['theme', 'collection'] });
  await Promise.all([waitIdle(a), waitIdle(b)]);

  await a.click('[data-testid=set-dark]');
  await themeShown(b, 'dark');
  await b.click('[data-testid=set-system]');
  await themeShown(a, 'system');
  // A change from another device (HTTP) reaches both.
  await patchDoc(f.server, tok, 'settings', 'ui', { theme: 'light' });
  await Promise.all([themeShown(a, 'light'), themeShown(b, 'light')]);

  // Both tabs render the server's document at the server's version.
  const s = await state(f.server, tok);
  const doc = s.docs.get('settings/ui');
  assert.equal(doc.value.theme, 'light');
  for (const page of [a, b]) {
    await page.waitForFunction((v) => document.querySelector('[data-testid=theme-part]').dataset.version === String(v), doc.version);
    assert.equal(await page.textContent('[data-testid=settings-docs]'), '1');
  }
  await a.close();
  await b.close();
});

test('under React.StrictMode the double mount still opens one WebSocket, one subscription per space and one listener', async () => {
  const user = 'rx-strict';
  const tok = await token(f.server, user);
  const parts = ['theme', 'theme', 'settings', 'catalog', 'badge', 'prefs'];
  let ws;
  const page = await openApp(f.context, f.server, { token: tok, show: parts, strict: true, setup: (p) => (ws = recordWebSockets(p)) });
  await waitIdle(page);
  await page.waitForSelector('[data-testid=catalog] [data-testid=model-gpt-4o]');

  // React really ran the effects twice (development build + StrictMode): mount, unmount, mount.
  assert.deepEqual(await page.evaluate(() => [window.t.mounts, window.t.unmounts]), [parts.length * 2, parts.length]);

  // A write confirmed by the server: any second client would have connected by now.
  await page.click('[data-testid=set-dark]');
  await waitIdle(page);
  assert.equal((await state(f.server, tok)).docs.get('settings/ui').value.theme, 'dark');

  assert.equal(ws.sockets.length, 1, `WebSocket connections: ${JSON.stringify(ws.sockets)}`);
  // (`user:me` may already go by its real name, learnt from the token.)
  const subscribed = ws.sent.filter((m) => m.type === 'hello').flatMap((m) => Object.keys(m.subscribe || {}).map((s) => (s === `user:${user}` ? 'user:me' : s)));
  assert.deepEqual(subscribed.sort(), ['catalog', 'user:me'], `spaces subscribed in hello frames: ${JSON.stringify(subscribed)}`);
  // One change listener per space and one status/error listener on the client, however many components.
  assert.deepEqual(await page.evaluate(() => window.t.listeners()), { status: 1, error: 1, me: 1, catalog: 1 });
  await page.close();
});

test('unmounting the components releases every listener they registered on the client', async () => {
  const user = 'rx-unmount';
  const tok = await token(f.server, user);
  await patchDoc(f.server, tok, 'settings', 'ui', { theme: 'dark' });
  const page = await openApp(f.context, f.server, { token: tok, show: [], strict: true });
  const none = { status: 0, error: 0, me: 0, catalog: 0 };
  assert.deepEqual(await page.evaluate(() => window.t.listeners()), none, 'nothing mounted, nothing registered');

  const all = ['theme', 'settings', 'catalog', 'prefs', 'realtime', 'collection', 'status', 'badge'];
  await page.evaluate((list) => window.t.show([...list, ...list]), all);
  await page.waitForSelector('[data-testid=catalog] [data-testid=model-gpt-4o]');
  await themeShown(page, 'dark');
  await waitIdle(page);
  // Sixteen components, one listener of each kind on the client.
  assert.deepEqual(await page.evaluate(() => window.t.listeners()), { status: 1, error: 1, me: 1, catalog: 1 });

  await page.evaluate(() => window.t.show([]));
  await page.waitForFunction(() => document.querySelector('[data-testid=parts]').dataset.count === '0' && !document.querySelector('[data-testid=theme]'));
  assert.deepEqual(await page.evaluate(() => window.t.listeners()), none, 'every listener released');
  assert.deepEqual(await page.evaluate(() => [window.t.mounts, window.t.unmounts]), [all.length * 4, all.length * 4]);

  // Mounted again, the hooks subscribe afresh and still get live changes.
  await page.evaluate(() => window.t.show(['theme']));
  await themeShown(page, 'dark');
  await patchDoc(f.server, tok, 'settings', 'ui', { theme: 'system' });
  await themeShown(page, 'system');
  assert.deepEqual(await page.evaluate(() => window.t.listeners()), { status: 1, error: 1, me: 1, catalog: 0 });
  await page.close();
});
