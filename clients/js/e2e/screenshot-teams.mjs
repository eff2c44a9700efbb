// Regenerates docs/demo-teams.png: the demo page's team panel as alice (the
// owner) sees it, with bob (an editor) online in another browser, typing,
// and carol a viewer; headless Chromium against the real server.
//   node clients/js/e2e/screenshot-teams.mjs [out.png]
import path from 'node:path';
import { REPO, startServer, launchBrowser, openDemo, waitSynced } from './harness.mjs';

const out = path.resolve(process.argv[2] || path.join(REPO, 'docs/demo-teams.png'));
const server = await startServer();
const browsers = [await launchBrowser(), await launchBrowser()];
try {
  const alice = await openDemo(browsers[0].context, server, 'alice');
  const bob = await openDemo(browsers[1].context, server, 'bob');
  await Promise.all([waitSynced(alice), waitSynced(bob)]);
  await alice.fill('[data-testid=team-name]', 'Design');
  await alice.click('[data-testid=team-create]');
  await alice.waitForSelector('[data-testid=team-role]:text-is("owner")');
  for (const [who, role] of [['bob', 'editor'], ['carol', 'viewer']]) {
    await alice.fill('[data-testid=invite-user]', who);
    await alice.selectOption('[data-testid=invite-role]', role);
    await alice.click('[data-testid=invite-submit]');
    await alice.waitForSelector(`[data-testid=member-${who}][data-role=${role}]`);
  }
  await alice.fill('[data-testid=shared-announcement]', 'Release on Friday');
  await alice.check('[data-testid=shared-review_required]');
  await bob.click('[data-testid=team-item]:has-text("Design")', { timeout: 5000 });
  await bob.waitForSelector('[data-testid=team-role]:text-is("editor")');
  await alice.waitForSelector('[data-testid=online-bob]', { timeout: 5000 });
  await bob.fill('[data-testid=shared-channel]', '#design');
  await alice.waitForSelector('[data-testid=online-bob][data-typing=true]', { timeout: 1400 });
  await alice.waitForFunction(() => document.querySelector('[data-testid=shared-channel]').value === '#design', null, { timeout: 5000 });
  await alice.mouse.move(0, 0);
  await alice.evaluate(() => document.activeElement && document.activeElement.blur());
  await alice.waitForSelector('[data-testid=online-bob][data-typing=true]', { timeout: 1000 });
  await alice.locator('#teams-card').screenshot({ path: out });
  console.log(`wrote ${out}`);
} finally {
  for (const b of browsers) await b.close();
  await server.stop();
}
