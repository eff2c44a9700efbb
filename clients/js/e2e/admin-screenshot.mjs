// Regenerates docs/admin.png: the live inspector at /admin in headless
// Chromium, against the real server with a catalog loaded, two demo tabs
// open and about half a minute of writes behind the chart.
//   node clients/js/e2e/admin-screenshot.mjs [out.png]
import path from 'node:path';
import { REPO, startServer, launchBrowser, loadCatalog, openDemo, waitSynced, token, api, sleep } from './harness.mjs';

const out = path.resolve(process.argv[2] || path.join(REPO, 'docs/admin.png'));
const server = await startServer({ lockbox: true });
const { context, close } = await launchBrowser();
try {
  await loadCatalog(server);
  const admin = await token(server, 'admin', 'admin');
  const tabs = [];
  for (const user of ['alice', 'bob']) {
    const tab = await openDemo(context, server, user);
    await waitSynced(tab);
    tabs.push(tab);
  }
  const page = await context.newPage();
  await page.setViewportSize({ width: 1240, height: 980 });
  await page.goto(`${server.url}/admin`);
  await page.fill('[data-testid=token]', admin);
  await page.click('[data-testid=use-token]');
  await page.waitForSelector('[data-testid=provider-status-anthropic]');
  await page.fill('[data-testid=watch-space]', 'user:alice');
  await page.click('[data-testid=watch]');

  const alice = await token(server, 'alice');
  const bob = await token(server, 'bob');
  await api(server, alice, 'PUT', '/v1/lockbox/openai', { api_key: 'sk-proj-demo' + 'x'.repeat(40) + 'a1b2' });
  // Bursts of writes, uneven over time, from both users.
  for (let s = 0; s < 30; s++) {
    const n = 1 + ((s * 7) % 5) + (s % 9 === 0 ? 6 : 0);
    for (let i = 0; i < n; i++) {
      const [tok, who] = i % 3 === 0 ? [bob, 'bob'] : [alice, 'alice'];
      await api(server, tok, 'PUT', `/v1/spaces/user:me/docs/notes/n${i % 4}`, { text: `${who}'s note, second ${s}`, words: s * 10 + i });
    }
    await sleep(1000);
  }
  await tabs[0].check('[data-testid=theme-dark]');
  await tabs[0].fill('[data-testid=language]', 'en-GB');
  await sleep(2500);
  await page.bringToFront();
  await page.mouse.move(0, 0);
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  await close();
  await server.stop();
}
