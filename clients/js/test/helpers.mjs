// Test doubles for the client: a manual clock, an in-memory tidemark server
// that speaks docs/protocol.md over fake WebSocket / EventSource / fetch, and
// an in-process BroadcastChannel. No real sleeps: time moves with clock.advance().

import { mergePatch, formatCursor, parseCursor } from '../tidemark.js';

/** Lets queued callbacks (setImmediate-delivered frames, promise chains) run. */
export async function settle(rounds = 30) {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

/** A manual clock: timers fire only inside advance(). */
export class FakeClock {
  constructor(start = 1_700_000_000_000) {
    this.t = start;
    this.timers = new Map();
    this.seq = 0;
    this.now = () => this.t;
    this.setTimeout = (fn, ms) => {
      const id = ++this.seq;
      this.timers.set(id, { at: this.t + Math.max(0, Number(ms) || 0), fn, id });
      return id;
    };
    this.clearTimeout = (id) => {
      this.timers.delete(id);
    };
  }

  async advance(ms) {
    const end = this.t + ms;
    await settle();
    for (;;) {
      let next = null;
      for (const x of this.timers.values()) if (x.at <= end && (!next || x.at < next.at || (x.at === next.at && x.id < next.id))) next = x;
      if (!next) break;
      this.timers.delete(next.id);
      this.t = Math.max(this.t, next.at);
      next.fn();
      await settle();
    }
    this.t = end;
    await settle();
  }
}

function b64url(obj) {
  return Buffer.from(JSON.stringify(obj)).toString('base64url');
}

/** An unsigned JWT-shaped token (the fake server reads sub and exp). */
export function makeToken(sub, expSeconds = 4_000_000_000, extra = {}) {
  return `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url({ sub, exp: expSeconds, ...extra })}.sig`;
}

function claimsOf(token) {
  try {
    return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
  } catch {
    return null;
  }
}

/** In-process BroadcastChannel: messages go to the other channels of the same hub and name. */
export function channelHub() {
  const rooms = new Map();
  return class FakeBroadcastChannel {
    constructor(name) {
      this.name = name;
      this.onmessage = null;
      if (!rooms.has(name)) rooms.set(name, new Set());
      rooms.get(name).add(this);
    }
    postMessage(m) {
      const data = structuredClone(m);
      for (const other of rooms.get(this.name) || []) {
        if (other !== this) setImmediate(() => other.onmessage && other.onmessage({ data }));
      }
    }
    close() {
      const r = rooms.get(this.name);
      if (r) r.delete(this);
    }
  };
}

/**
 * The server: spaces with epoch, gap-free versions, an event log, per-client
 * last mutation ids (idempotency, out_of_order), if_version conflicts,
 * catch-up answers, WebSocket and SSE subscribers, POST /v1/sync and the
 * /version long-poll.
 */
export class FakeServer {
  constructor(clock, { epoch = 'E1' } = {}) {
    this.clock = clock;
    this.epochSeed = epoch;
    this.spaces = new Map();
    this.clients = new Map();
    this.conns = new Set();
    this.streams = new Set();
    this.pollers = new Set();
    this.wsUp = true;
    this.httpUp = true;
    this.sseUp = true;
    this.silent = false; // accept frames but answer nothing (dead peer)
    this.applied = []; // [{client_id, mutation_id, space}] in commit order
    this.frames = []; // client -> server WebSocket frames
    this.requests = []; // [{method, path, body}]
    this.hellos = []; // hello frames
    this.wsAttempts = 0;
    const server = this;

    this.WebSocket = class FakeWebSocket {
      constructor(url, protocol) {
        server.wsAttempts++;
        this.url = url;
        this.protocol = protocol;
        this.readyState = 0;
        this.onopen = this.onmessage = this.onclose = this.onerror = null;
        // The token comes in the URL or, as the client sends it, in a first
        // `auth` message; the welcome follows it.
        const token = new URL(url).searchParams.get('access_token');
        setImmediate(() => {
          if (!server.wsUp || protocol !== 'tidemark.v1') {
            this.readyState = 3;
            if (this.onerror) this.onerror({});
            if (this.onclose) this.onclose({ code: 1006, reason: '' });
            return;
          }
          this.readyState = 1;
          if (token === null) {
            this.awaitingAuth = true;
            if (this.onopen) this.onopen({});
            return;
          }
          if (this.onopen) this.onopen({});
          this.authenticate(token);
        });
      }
      authenticate(token) {
        const claims = claimsOf(token);
        if (!claims || claims.exp * 1000 <= server.clock.now()) {
          this.readyState = 3;
          setImmediate(() => this.onclose && this.onclose({ code: 4001, reason: 'invalid token' }));
          return;
        }
        const conn = { ws: this, user: claims.sub, exp: claims.exp, subs: new Set(), clientId: null, open: true };
        this.conn = conn;
        server.conns.add(conn);
        server.toWs(conn, { type: 'welcome', session: 's-1', heartbeat_ms: 25000, limits: { max_frame_bytes: 65536 } });
      }
      send(text) {
        if (this.readyState !== 1) throw new Error('not open');
        if (this.awaitingAuth) {
          this.awaitingAuth = false;
          const m = JSON.parse(text);
          setImmediate(() => (m.type === 'auth' ? this.authenticate(m.token) : this.onclose && this.onclose({ code: 4001, reason: 'the first message must be auth' })));
          return;
        }
        const conn = this.conn;
        setImmediate(() => server.onFrame(conn, JSON.parse(text)));
      }
      close() {
        if (this.readyState === 3) return;
        this.readyState = 3;
        if (this.conn) {
          this.conn.open = false;
          server.conns.delete(this.conn);
        }
        setImmediate(() => this.onclose && this.onclose({ code: 1005, reason: '' }));
      }
    };

    this.EventSource = class FakeEventSource {
      constructor(url) {
        this.url = url;
        this.readyState = 0;
        this.listeners = new Map();
        this.onerror = null;
        const u = new URL(url);
        const claims = claimsOf(u.searchParams.get('access_token'));
        setImmediate(() => {
          if (this.readyState === 2) return;
          if (!server.sseUp || !claims || claims.exp * 1000 <= server.clock.now()) {
            this.readyState = 2;
            if (this.onerror) this.onerror({});
            return;
          }
          this.readyState = 1;
          const name = server.resolve(claims.sub, u.searchParams.get('space'));
          const st = { es: this, space: name, user: claims.sub };
          this.st = st;
          server.streams.add(st);
          const answer = server.catchUp(name, parseCursor(u.searchParams.get('cursor') || ''));
          server.toSse(st, answer.kind, { type: answer.kind, space: name, ...strip(answer) });
        });
      }
      addEventListener(type, fn) {
        if (!this.listeners.has(type)) this.listeners.set(type, []);
        this.listeners.get(type).push(fn);
      }
      close() {
        this.readyState = 2;
        if (this.st) server.streams.delete(this.st);
      }
    };

    this.fetch = (url, init = {}) => server.onFetch(url, init);
  }

  resolve(user, name) {
    return name === 'user:me' ? `user:${user}` : name;
  }

  space(name) {
    if (!this.spaces.has(name)) this.spaces.set(name, { epoch: this.epochSeed, version: 0, docs: new Map(), log: [] });
    return this.spaces.get(name);
  }

  catchUp(name, cursor) {
    const s = this.space(name);
    if (!cursor || cursor.epoch !== s.epoch || cursor.version > s.version) {
      return { kind: 'snapshot', epoch: s.epoch, version: s.version, docs: [...s.docs.values()].filter((d) => d.value !== null) };
    }
    if (cursor.version === s.version) return { kind: 'up_to_date', epoch: s.epoch, version: s.version };
    return { kind: 'events', epoch: s.epoch, from: cursor.version, to: s.version, events: s.log.filter((e) => e.version > cursor.version) };
  }

  /** Applies a mutation as the engine does; returns the result (ack or reject). */
  mutate(user, clientId, m) {
    // A database outage for the next N mutations: refused, nothing applied.
    if (this.storeDownFor > 0) {
      this.storeDownFor--;
      return { status: 'reject', mutation_id: m.mutation_id, code: 'store_unavailable', message: 'the database is unavailable' };
    }
    const key = `${user}:${clientId}`;
    const rec = this.clients.get(key);
    if (clientId && rec) {
      if (m.mutation_id <= rec.last) return rec.results.get(m.mutation_id) || { status: 'ack', mutation_id: m.mutation_id, version: this.space(this.resolve(user, m.space)).version, noop: true };
      if (m.mutation_id > rec.last + 1) {
        return { status: 'reject', mutation_id: m.mutation_id, code: 'out_of_order', message: `next expected is ${rec.last + 1}` };
      }
    }
    const record = (r) => {
      if (clientId) {
        const c = this.clients.get(key) || { last: 0, results: new Map() };
        c.last = m.mutation_id;
        c.results.set(m.mutation_id, r);
        this.clients.set(key, c);
      }
      return r;
    };
    const name = this.resolve(user, m.space);
    if (name !== 'catalog' && name !== `user:${user}`) return record({ status: 'reject', mutation_id: m.mutation_id, code: 'forbidden', message: 'no' });
    const s = this.space(name);
    const work = new Map();
    const order = [];
    for (const op of m.ops) {
      const k = `${op.collection}/${op.id}`;
      const stored = s.docs.get(k);
      if (op.if_version !== undefined) {
        const actual = stored && stored.value !== null ? stored.version : stored ? stored.version : 0;
        if (actual !== op.if_version) {
          return record({
            status: 'reject',
            mutation_id: m.mutation_id,
            code: 'conflict',
            message: `${k} is at version ${actual}, not ${op.if_version}`,
            current: { collection: op.collection, id: op.id, version: actual, value: stored ? stored.value : null },
          });
        }
      }
      if (!work.has(k)) {
        work.set(k, { op, before: stored && stored.value !== null ? stored.value : undefined });
        order.push(k);
      }
      const w = work.get(k);
      const cur = 'after' in w ? w.after : w.before;
      if (op.op === 'put') w.after = op.value;
      else if (op.op === 'patch') w.after = mergePatch(cur === undefined ? {} : cur, op.value);
      else w.after = undefined;
      w.collection = op.collection;
      w.id = op.id;
    }
    const events = [];
    for (const k of order) {
      const w = work.get(k);
      if (JSON.stringify(w.before) === JSON.stringify(w.after)) continue;
      s.version++;
      const ev = {
        space: name,
        version: s.version,
        op: w.after === undefined ? 'delete' : 'upsert',
        collection: w.collection,
        id: w.id,
        value: w.after === undefined ? null : w.after,
        event: null,
        origin: clientId ? { client_id: clientId, mutation_id: m.mutation_id } : null,
        at: new Date(this.clock.now()).toISOString(),
      };
      s.docs.set(k, { collection: w.collection, id: w.id, version: s.version, value: ev.value });
      s.log.push(ev);
      events.push(ev);
    }
    if (clientId) this.applied.push({ client_id: clientId, mutation_id: m.mutation_id, space: name, ops: m.ops });
    const result = record({ status: 'ack', mutation_id: m.mutation_id, version: s.version, noop: events.length === 0 });
    this.pendingEvents = events;
    return result;
  }

  /** Writes as another device would (no client id) and fans the events out. */
  write(user, spaceName, ops) {
    const r = this.mutate(user, null, { mutation_id: 0, space: spaceName, ops });
    this.fanOut(this.pendingEvents || []);
    return r;
  }

  fanOut(events) {
    for (const ev of events) {
      for (const c of this.conns) if (c.subs.has(ev.space)) this.toWs(c, { type: 'event', ...ev });
      for (const st of this.streams) if (st.space === ev.space) this.toSse(st, 'event', { type: 'event', ...ev });
      for (const p of [...this.pollers]) if (p.space === ev.space) p.wake();
    }
    this.pendingEvents = [];
  }

  /** Starts a new history for a space (database restore): new epoch. */
  resetEpoch(name, epoch) {
    const s = this.space(name);
    s.epoch = epoch;
    s.log = [];
    for (const c of this.conns) if (c.subs.has(name)) this.toWs(c, { type: 'snapshot', space: name, ...strip(this.catchUp(name, null)) });
  }

  toWs(conn, msg) {
    if (this.silent) return;
    const ws = conn.ws;
    setImmediate(() => {
      if (!conn.open || ws.readyState !== 1) return;
      if (ws.onmessage) ws.onmessage({ data: JSON.stringify(msg) });
    });
  }

  toSse(st, type, msg) {
    setImmediate(() => {
      if (st.es.readyState !== 1) return;
      for (const fn of st.es.listeners.get(type) || []) fn({ data: JSON.stringify(msg) });
    });
  }

  /** Closes every WebSocket from the server side with `code`. */
  closeAll(code = 1012, reason = '') {
    for (const c of [...this.conns]) {
      c.open = false;
      this.conns.delete(c);
      c.ws.readyState = 3;
      setImmediate(() => c.ws.onclose && c.ws.onclose({ code, reason }));
    }
    for (const st of [...this.streams]) {
      this.streams.delete(st);
      st.es.readyState = 2;
      setImmediate(() => st.es.onerror && st.es.onerror({}));
    }
  }

  onFrame(conn, m) {
    if (!conn.open) return;
    this.frames.push(m);
    if (this.silent) return;
    switch (m.type) {
      case 'hello':
        this.hellos.push(m);
        conn.clientId = m.client_id;
        for (const [alias, cursor] of Object.entries(m.subscribe || {})) {
          const name = this.resolve(conn.user, alias);
          conn.subs.add(name);
          const a = this.catchUp(name, cursor);
          this.toWs(conn, { type: a.kind, space: name, ...strip(a) });
        }
        break;
      case 'mutate': {
        if (!conn.clientId) {
          this.toWs(conn, { type: 'error', code: 'bad_message', message: 'hello first' });
          break;
        }
        const r = this.mutate(conn.user, conn.clientId, m);
        const events = this.pendingEvents || [];
        this.pendingEvents = [];
        const space = this.resolve(conn.user, m.space);
        if (r.status === 'ack') this.toWs(conn, { type: 'ack', mutation_id: m.mutation_id, space, version: r.version, noop: r.noop });
        else this.toWs(conn, { type: 'reject', mutation_id: m.mutation_id, space, code: r.code, message: r.message, ...(r.current ? { current: r.current } : {}) });
        this.fanOut(events);
        break;
      }
      case 'ping':
        this.toWs(conn, { type: 'pong', nonce: m.nonce });
        break;
      case 'auth':
        conn.exp = claimsOf(m.token).exp;
        break;
      default:
        this.toWs(conn, { type: 'error', code: 'unknown_type', message: m.type });
    }
  }

  async onFetch(url, init) {
    const u = new URL(url);
    const body = init.body ? JSON.parse(init.body) : undefined;
    this.requests.push({ method: init.method || 'GET', path: u.pathname + u.search, body });
    await new Promise((r) => setImmediate(r));
    if (!this.httpUp) throw new TypeError('fetch failed');
    const auth = (init.headers && init.headers.Authorization) || '';
    const claims = claimsOf(auth.replace(/^Bearer /, ''));
    const json = (status, obj) => new Response(JSON.stringify(obj), { status, headers: { 'content-type': 'application/json' } });
    if (!claims || claims.exp * 1000 <= this.clock.now()) return json(401, { error: { code: 'unauthorized', message: 'bad token' } });
    const user = claims.sub;
    if (u.pathname === '/v1/sync' && init.method === 'POST') {
      const results = [];
      for (const m of body.mutations || []) {
        const r = this.mutate(user, m.client_id || body.client_id, m);
        results.push(r);
        this.fanOut(this.pendingEvents || []);
      }
      const spaces = {};
      for (const [alias, cursor] of Object.entries(body.cursors || {})) {
        const name = this.resolve(user, alias);
        spaces[name] = this.catchUp(name, cursor);
      }
      return json(200, { results, spaces });
    }
    const mv = u.pathname.match(/^\/v1\/spaces\/([^/]+)\/version$/);
    if (mv && (init.method || 'GET') === 'GET') {
      const name = this.resolve(user, decodeURIComponent(mv[1]));
      const s = this.space(name);
      const since = u.searchParams.get('since');
      const wait = Number(u.searchParams.get('wait') || 0);
      if (since !== null && wait > 0 && s.version <= Number(since)) {
        await new Promise((resolve) => {
          const p = { space: name, wake: () => done() };
          const h = this.clock.setTimeout(() => done(), wait * 1000);
          const done = () => {
            this.clock.clearTimeout(h);
            this.pollers.delete(p);
            resolve();
          };
          this.pollers.add(p);
          if (init.signal) init.signal.addEventListener('abort', done);
        });
        if (init.signal && init.signal.aborted) {
          const e = new Error('aborted');
          e.name = 'AbortError';
          throw e;
        }
        if (!this.httpUp) throw new TypeError('fetch failed');
      }
      return json(200, { space: name, epoch: s.epoch, version: s.version });
    }
    return json(404, { error: { code: 'not_found', message: u.pathname } });
  }
}

function strip(answer) {
  const { kind, ...rest } = answer;
  return rest;
}

export { formatCursor };
