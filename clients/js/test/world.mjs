// The whole client against the in-memory FakeServer with a manual clock:
// what client.test.mjs and client-transports.test.mjs share.
import { TidemarkClient, MemoryStorage } from '../tidemark.js';
import { FakeClock, FakeServer, channelHub, makeToken } from './helpers.mjs';

const URL_ = 'http://tidemark.test';

export function setup({ transports, eventSource = false, sub = 'alice' } = {}) {
  const clock = new FakeClock();
  const server = new FakeServer(clock);
  const storage = new MemoryStorage();
  const BroadcastChannel = channelHub();
  const random = () => 0.5;
  const clients = [];
  const make = (opts = {}) => {
    const c = new TidemarkClient({
      url: URL_,
      token: makeToken(sub),
      storage,
      transports,
      ...opts,
      env: {
        now: clock.now,
        setTimeout: clock.setTimeout,
        clearTimeout: clock.clearTimeout,
        random,
        WebSocket: server.WebSocket,
        EventSource: eventSource ? server.EventSource : undefined,
        fetch: server.fetch,
        BroadcastChannel,
        locks: undefined,
        window: undefined,
        ...(opts.env || {}),
      },
    });
    clients.push(c);
    return c;
  };
  const done = () => clients.forEach((c) => c.close());
  return { clock, server, storage, make, done };
}

export const ui = (space) => space.get('settings', 'ui');
