// Test harness: the real tidemark client against clients/js's in-memory fake
// server and manual clock, rendered with react-test-renderer inside act().
import React, { act } from 'react';
import { create } from 'react-test-renderer';
import { TidemarkClient, MemoryStorage } from 'tidemark-client';
import { FakeClock, FakeServer, channelHub, makeToken, settle } from '../../js/test/helpers.mjs';
import { TidemarkProvider } from '../src/index.js';

globalThis.IS_REACT_ACT_ENVIRONMENT = true;

// react-test-renderer 19 announces its deprecation once; nothing else is hidden.
const consoleError = console.error;
console.error = (...args) => {
  if (typeof args[0] === 'string' && args[0].includes('react-test-renderer is deprecated')) return;
  consoleError(...args);
};

export const h = React.createElement;
export { act, settle, makeToken };

/**
 * A fake server, a manual clock and a client for user `sub`. `advance(ms)`
 * moves the clock inside act(); `render(element)` mounts under a
 * TidemarkProvider holding the client.
 */
export function world({ sub = 'alice', options = {} } = {}) {
  const clock = new FakeClock();
  const server = new FakeServer(clock);
  const storage = new MemoryStorage();
  const BroadcastChannel = channelHub();
  const clients = [];
  const roots = [];
  const make = (opts = {}) => {
    const c = new TidemarkClient({
      url: 'http://tidemark.test',
      token: makeToken(sub),
      storage,
      ...options,
      ...opts,
      env: {
        now: clock.now,
        setTimeout: clock.setTimeout,
        clearTimeout: clock.clearTimeout,
        random: () => 0.5,
        WebSocket: server.WebSocket,
        EventSource: undefined,
        fetch: server.fetch,
        BroadcastChannel,
        locks: undefined,
        window: undefined,
      },
    });
    clients.push(c);
    return c;
  };
  const client = make();
  const w = {
    clock,
    server,
    client,
    make,
    async advance(ms = 10) {
      await act(async () => {
        await clock.advance(ms);
      });
    },
    /** Runs fn inside act and lets the fake server answer. */
    async act(fn) {
      let out;
      await act(async () => {
        out = await fn();
        await settle();
      });
      return out;
    },
    async render(element, { strict = false, client: c = client } = {}) {
      let root;
      const tree = h(TidemarkProvider, { client: c }, element);
      await act(async () => {
        root = create(strict ? h(React.StrictMode, null, tree) : tree);
      });
      roots.push(root);
      return root;
    },
    async unmount(root) {
      await act(async () => root.unmount());
    },
    /** Takes the server offline (WebSocket, HTTP) and drops the connections. */
    async offline() {
      server.wsUp = false;
      server.httpUp = false;
      server.closeAll(1006);
      await act(async () => settle());
    },
    async done() {
      for (const r of roots) {
        try {
          await act(async () => r.unmount());
        } catch {
          // already unmounted
        }
      }
      for (const c of clients) c.close();
    },
  };
  return w;
}

/**
 * A component running `hook()` on every render; `probe.current` is its latest
 * result, `probe.renders` the number of renders.
 */
export function probe(hook) {
  const p = { current: undefined, renders: 0, all: [] };
  p.Component = function Probe() {
    p.current = hook();
    p.renders++;
    p.all.push(p.current);
    return null;
  };
  p.element = h(p.Component);
  return p;
}

/** The text of a rendered tree (test renderer JSON). */
export function textOf(node) {
  if (node === null || node === undefined) return '';
  if (typeof node === 'string') return node;
  if (Array.isArray(node)) return node.map(textOf).join('');
  return textOf(node.children);
}
