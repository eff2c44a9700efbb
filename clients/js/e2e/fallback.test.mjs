// WebSocket unavailable: the page is served through a proxy that refuses
// every WebSocket upgrade (the handshake really fails in the browser). The tab
// falls back to server-sent events, or with those blocked too, to
// long-polling, and stays in sync both ways.
import test from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, loadCatalog, openDemo, waitSynced, token, state, patchDoc, startBlockingProxy } from './harness.mjs';

let server;
let browser;
const proxies = [];
test.before(async () => {
  server = await startServer();
  await loadCatalog(server);
  browser = await launchBrowser();
});
test.after(async () => {
  if (browser) await browser.close();
  for (const p of proxies) await p.close();
  if (server) await server.stop();
});

const modelOn = ([pid, id]) => {
  const prefs = window.demo.me.get('model_preferences', pid);
  const box = document.querySelector(`[data-testid="model-toggle-${id}"]`);
  return !!prefs && prefs.enabled_models.includes(id) && !!box && box.checked && window.demo.client.pendingCount === 0;
};

async function staysInSync({ user, blockSse, expected }) {
  const proxy = await startBlockingProxy(server, { blockSse });
  proxies.push(proxy);
  // The blocked tab is on the proxy's origin; the direct one (another origin:
  // no shared storage, no BroadcastChannel) uses the WebSocket.
  const blocked = await openDemo(browser.context, server, user, { base: proxy.url });
  const direct = await openDemo(browser.context, server, user);
  await waitSynced(direct, { transport: 'websocket' });
  await blocked.bringToFront();
  await waitSynced(blocked, { transport: expected, timeout: 60_000 });
  assert.ok(proxy.stats.upgrades >= 1, 'the client did try the WebSocket first');
  if (blockSse) assert.ok(proxy.stats.sse >= 1, 'the client did try server-sent events');
  await blocked.waitForSelector(`[data-testid=transport]:has-text("via ${expected === 'sse' ? 'server-sent events' : 'long-polling'}")`);
  await blocked.waitForSelector('[data-testid=provider-openai]');
  const tok = await token(server, user);

  // A change in the WebSocket tab reaches the blocked tab.
  await direct.bringToFront();
  await direct.check('[data-testid=theme-dark]');
  await blocked.waitForFunction(() => document.documentElement.dataset.theme === 'dark' && document.querySelector('[data-testid=theme-dark]').checked, null, { timeout: 10_000 });

  // A change in the blocked tab reaches the server and the WebSocket tab.
  await blocked.bringToFront();
  await blocked.check('[data-testid="model-toggle-gpt-4o"]');
  await direct.waitForFunction(modelOn, ['openai', 'gpt-4o'], { timeout: 10_000 });
  await blocked.waitForFunction(modelOn, ['openai', 'gpt-4o'], { timeout: 10_000 });

  // A change from another device reaches it too.
  await patchDoc(server, tok, 'settings', 'ui', { language: 'ja' });
  await blocked.waitForFunction(() => document.querySelector('[data-testid=language]').value === 'ja', null, { timeout: 10_000 });

  const s = await state(server, tok);
  assert.deepEqual(s.docs.get('model_preferences/openai').value.enabled_models, ['gpt-4o']);
  assert.equal(s.docs.get('settings/ui').value.theme, 'dark');
  await blocked.waitForFunction((v) => window.demo.me.version === v && window.demo.client.status === 'synced', s.version, { timeout: 10_000 });
  assert.equal(await blocked.evaluate(() => window.demo.client.transport), expected, 'still on the fallback');
  await blocked.close();
  await direct.close();
  return { proxy };
}

test('with WebSockets refused, a tab stays in sync over server-sent events', async () => {
  await staysInSync({ user: 'fallback-erin', blockSse: false, expected: 'sse' });
});

test('with WebSockets and server-sent events refused, a tab stays in sync by long-polling', async () => {
  const { proxy } = await staysInSync({ user: 'fallback-frank', blockSse: true, expected: 'poll' });
  assert.ok(proxy.stats.requests > 0);
});
