// The client authenticates its WebSocket in the first message, never in the
// URL (URLs land in proxy and access logs): against a running server, as
// live.test.mjs (opt-in with TIDEMARK_URL; scripts/test sets it).
import test from 'node:test';
import assert from 'node:assert/strict';
import { TidemarkClient, MemoryStorage } from '../tidemark.js';

const URL_ = process.env.TIDEMARK_URL;
const skip = URL_ ? false : 'set TIDEMARK_URL to a server running with --dev';

test('the WebSocket URL carries no token; the first frame is auth, and the client syncs', { skip }, async () => {
  const r = await fetch(`${URL_}/dev/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'wsauth' }) });
  const { token } = await r.json();
  const opened = [];
  class RecordingWebSocket extends globalThis.WebSocket {
    constructor(url, protocol) {
      super(url, protocol);
      this.sent = [];
      opened.push(this);
    }
    send(text) {
      this.sent.push(JSON.parse(text));
      super.send(text);
    }
  }
  const c = new TidemarkClient({ url: URL_, token, storage: new MemoryStorage(), env: { WebSocket: RecordingWebSocket, window: undefined, locks: undefined, BroadcastChannel: undefined } });
  try {
    const space = c.space('user:me');
    await space.put('settings', 'main', { theme: 'dark' });
    const deadline = Date.now() + 5000;
    while (c.status !== 'synced' && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    assert.equal(c.status, 'synced');
    assert.ok(opened.length >= 1, 'a WebSocket was opened');
    for (const ws of opened) {
      assert.ok(!ws.url.includes('access_token'), `no token in ${ws.url}`);
      assert.ok(!ws.url.includes(token), 'the token is not in the URL');
    }
    assert.equal(opened[0].sent[0].type, 'auth');
    assert.equal(opened[0].sent[0].token, token);
    assert.equal(opened[0].sent[1].type, 'hello');
  } finally {
    c.close();
  }
});
