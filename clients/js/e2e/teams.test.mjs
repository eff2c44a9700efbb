// The demo page's team panel (clients/demo/teams.js) with two users in two
// browsers (separate profiles: no shared storage or channel): alice creates a
// team and adds bob as an editor; bob sees it appear; both edit the team's
// shared settings and each sees the other's change; each sees the other in
// "who's online" (and typing); a viewer cannot edit; alice removes bob and
// his page says so and receives nothing more. Asserted on the pages' DOM
// (and the server's state over HTTP).
import test from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openDemo, waitSynced, token, docValue, sleep, waitFor } from './harness.mjs';

let server;
let browsers = [];
test.before(async () => {
  server = await startServer();
  browsers = [await launchBrowser(), await launchBrowser()];
});
test.after(async () => {
  for (const b of browsers) await b.close();
  if (server) await server.stop();
});

const value = (page, testid) => page.inputValue(`[data-testid="${testid}"]`);
const waitValue = (page, testid, want, timeout = 5000) =>
  page.waitForFunction(([t, w]) => document.querySelector(`[data-testid="${t}"]`)?.value === w, [testid, want], { timeout, polling: 50 });

test('two users share a team in the demo page; removing one cuts him off', async () => {
  const alice = await openDemo(browsers[0].context, server, 'alice');
  const bob = await openDemo(browsers[1].context, server, 'bob');
  await Promise.all([waitSynced(alice), waitSynced(bob)]);
  await bob.waitForSelector('[data-testid=team-none]');

  // Alice creates a team: it is listed, picked, and she is its owner.
  await alice.fill('[data-testid=team-name]', 'Design');
  await alice.click('[data-testid=team-create]');
  await alice.waitForSelector('[data-testid=team-item][aria-selected=true]:has-text("Design")');
  await alice.waitForSelector('[data-testid=team-role]:text-is("owner")');
  await alice.waitForSelector('[data-testid=member-alice]');
  const teamId = await alice.getAttribute('[data-testid=team-item][aria-selected=true]', 'data-team');
  const space = `team:${teamId}`;

  // ... and adds bob as an editor.
  await alice.fill('[data-testid=invite-user]', 'bob');
  await alice.selectOption('[data-testid=invite-role]', 'editor');
  await alice.click('[data-testid=invite-submit]');
  await alice.waitForSelector('[data-testid=member-bob][data-role=editor]', { timeout: 5000 });

  // Bob's page lists the team without a reload; he picks it and is an editor, without the owner's controls.
  await bob.click('[data-testid=team-item]:has-text("Design")', { timeout: 5000 });
  await bob.waitForSelector('[data-testid=team-role]:text-is("editor")');
  await bob.waitForSelector('[data-testid=member-alice][data-role=owner]');
  assert.equal(await bob.isVisible('[data-testid=invite-form]'), false, 'an editor gets no invite form');
  assert.equal(await bob.$('[data-testid=member-remove-alice]'), null, 'an editor cannot remove members');

  // The shared settings, both ways.
  await alice.fill('[data-testid=shared-announcement]', 'Release on Friday');
  await waitValue(bob, 'shared-announcement', 'Release on Friday');
  await bob.fill('[data-testid=shared-channel]', '#design');
  await bob.check('[data-testid=shared-review_required]');
  await waitValue(alice, 'shared-channel', '#design');
  await alice.waitForSelector('[data-testid=shared-review_required]:checked', { timeout: 5000 });
  const atok = await token(server, 'alice');
  await waitFor(async () => JSON.stringify(await docValue(server, atok, 'settings', 'shared', space)) === JSON.stringify({ announcement: 'Release on Friday', channel: '#design', review_required: true }), { timeout: 5000, what: 'both changes on the server' });

  // Who's online: each sees the other (and themself), and sees the other typing.
  await alice.waitForSelector('[data-testid=team-online] [data-testid=online-bob]', { timeout: 5000 });
  await alice.waitForSelector('[data-testid=team-online] [data-testid=online-alice]:has-text("you")');
  await bob.waitForSelector('[data-testid=team-online] [data-testid=online-alice]', { timeout: 5000 });
  await bob.fill('[data-testid=shared-announcement]', 'Release on Friday!');
  await alice.waitForSelector('[data-testid=online-bob][data-typing=true]:has-text("typing…")', { timeout: 1400 });
  await waitValue(alice, 'shared-announcement', 'Release on Friday!');
  await alice.waitForSelector('[data-testid=online-bob][data-typing=false]', { timeout: 5000 });
  await bob.click('[data-testid=team-title]'); // leaves the field

  // Bob as a viewer: he reads, he cannot edit.
  await alice.selectOption('[data-testid=member-role-bob]', 'viewer');
  await bob.waitForSelector('[data-testid=team-role]:text-is("viewer")', { timeout: 5000 });
  await bob.waitForSelector('[data-testid=shared-announcement]:disabled');
  assert.equal(await bob.isDisabled('[data-testid=shared-review_required]'), true);
  assert.match(await bob.innerText('[data-testid=shared-status]'), /read-only: you are a viewer/);
  await alice.fill('[data-testid=shared-channel]', '#design-team');
  await waitValue(bob, 'shared-channel', '#design-team');

  // Alice removes bob: his page says so at once, and nothing later reaches him.
  await alice.click('[data-testid=member-remove-bob]');
  await alice.waitForSelector('[data-testid=member-bob]', { state: 'detached', timeout: 5000 });
  await bob.waitForSelector('[data-testid=team-revoked]:has-text("You were removed from Design")', { timeout: 5000 });
  await alice.waitForSelector('[data-testid=online-bob]', { state: 'detached', timeout: 5000 });
  assert.equal(await bob.isDisabled('[data-testid=shared-announcement]'), true);
  assert.match(await bob.innerText('[data-testid=team-role]'), /removed/);
  await bob.waitForSelector('[data-testid=team-item]:has-text("Design"):has-text("removed")', { timeout: 5000 });
  assert.equal(await bob.$('[data-testid=team-online] [data-testid=online-alice]'), null, 'no presence after removal');

  await alice.fill('[data-testid=shared-announcement]', 'Moved to Monday');
  await alice.click('[data-testid=team-title]');
  await waitFor(async () => (await docValue(server, atok, 'settings', 'shared', space)).announcement === 'Moved to Monday', { timeout: 5000, what: "alice's change on the server" });
  await sleep(1000);
  assert.equal(await value(bob, 'shared-announcement'), 'Release on Friday!', 'bob still shows what he had when removed');
  assert.equal(await value(bob, 'shared-channel'), '#design-team');
  await bob.waitForSelector('[data-testid=team-revoked]');

  // Alice carries on: her page is current and bob is not listed.
  assert.deepEqual(await alice.$$eval('[data-testid=team-members] li', (lis) => lis.map((li) => li.dataset.testid)), ['member-alice']);
  await alice.close();
  await bob.close();
});
