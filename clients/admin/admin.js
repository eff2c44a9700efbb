// The inspector page (/admin): shows nothing until the admin API accepts the
// pasted token (kept in sessionStorage), then
//   - GET /v1/admin/overview every 2 s: loaded spaces, totals, the catalog;
//   - GET /v1/admin/stream (server-sent events): `stats` every 250 ms (the
//     chart and the connection counts) and the watched space's events,
//     values already redacted by the server.
// Any refusal (401, 403) or a lost stream that the API then refuses wipes
// every value from the page.
import { RateChart } from './chart.js';

const KEY = 'tidemark.admin.token';
const WATCH_KEY = 'tidemark.admin.watch';
const MAX_EVENTS = 200;
const $ = (id) => document.getElementById(id);

const state = {
  token: sessionStorage.getItem(KEY) || '',
  watch: sessionStorage.getItem(WATCH_KEY) || 'catalog',
  source: null,
  timer: 0,
  events: [],
  open: false,
};
const chart = new RateChart($('chart'));
window.inspector = { state, chart };

function status(text, kind = '') {
  const s = $('auth-status');
  s.textContent = text;
  s.dataset.kind = kind;
}

/** Removes every value from the page and stops reading. */
function wipe() {
  state.open = false;
  if (state.source) state.source.close();
  state.source = null;
  clearInterval(state.timer);
  state.events = [];
  for (const id of ['spaces', 'events', 'providers']) $(id).replaceChildren();
  for (const id of ['conn-ws', 'conn-sse', 'conn-long_poll', 'loaded', 'held', 'queued', 'now-events', 'now-deliveries', 'window-totals', 'spaces-note', 'events-note', 'catalog-note']) {
    $(id).textContent = '';
  }
  chart.clear();
  $('inspector').hidden = true;
}

async function api(path) {
  const r = await fetch(path, { headers: { authorization: `Bearer ${state.token}` }, cache: 'no-store' });
  let body = null;
  try {
    body = await r.json();
  } catch {
    body = null;
  }
  return { status: r.status, body };
}

function refused(r) {
  wipe();
  const why = r.body && r.body.error ? r.body.error.message : `HTTP ${r.status}`;
  if (r.status === 403) status(`This token is not an admin token (403): ${why}`, 'error');
  else if (r.status === 401) status(`Token refused (401): ${why}`, 'error');
  else status(`The server answered ${r.status}: ${why}`, 'error');
}

async function open() {
  wipe();
  if (!state.token) {
    status('Paste an admin token (role admin).');
    return;
  }
  status('Checking the token…');
  let r;
  try {
    r = await api('/v1/admin/overview');
  } catch (e) {
    status(`The server cannot be reached: ${e.message}`, 'error');
    return;
  }
  if (r.status !== 200) return refused(r);
  state.open = true;
  $('inspector').hidden = false;
  status('Live.', 'ok');
  renderOverview(r.body);
  $('watch-space').value = state.watch;
  connect();
  state.timer = setInterval(refresh, 2000);
}

async function refresh() {
  if (!state.open) return;
  try {
    const r = await api('/v1/admin/overview');
    if (!state.open) return;
    if (r.status === 200) renderOverview(r.body);
    else if (r.status === 401 || r.status === 403) refused(r);
  } catch {
    status('The server cannot be reached; retrying.', 'error');
  }
}

function connect() {
  if (state.source) state.source.close();
  const q = new URLSearchParams({ access_token: state.token });
  if (state.watch) q.set('space', state.watch);
  const es = new EventSource(`/v1/admin/stream?${q}`);
  state.source = es;
  es.addEventListener('stats', (m) => state.open && onStats(JSON.parse(m.data)));
  es.addEventListener('events', (m) => state.open && onEvents(JSON.parse(m.data)));
  es.onopen = () => state.open && status('Live.', 'ok');
  es.onerror = () => {
    if (!state.open || state.source !== es) return;
    if (es.readyState === EventSource.CLOSED) {
      // Refused, or the server went away: ask the API why, then reconnect.
      status('Stream lost; reconnecting…', 'error');
      setTimeout(async () => {
        if (!state.open || state.source !== es) return;
        const r = await api('/v1/admin/overview').catch(() => null);
        if (r && (r.status === 401 || r.status === 403)) refused(r);
        else if (state.open && state.source === es) connect();
      }, 1000);
    } else {
      status('Stream interrupted; reconnecting…', 'error');
    }
  };
}

function onStats(s) {
  chart.set(s.second, s.counted.events_committed, s.counted.live_frames);
  for (const k of ['ws', 'sse', 'long_poll']) $(`conn-${k}`).textContent = String(s.connections[k]);
  const t = chart.totals();
  $('now-events').textContent = String(t.nowEvents);
  $('now-deliveries').textContent = String(t.nowDeliveries);
  $('window-totals').textContent = `window: ${t.events} events, ${t.deliveries} frames`;
}

function onEvents(m) {
  if (m.space !== state.watch) return;
  if (m.reset) state.events = [];
  const seen = new Set(state.events.map((e) => e.version));
  for (const e of m.events) if (!seen.has(e.version)) state.events.push(e);
  state.events.sort((a, b) => a.version - b.version);
  if (state.events.length > MAX_EVENTS) state.events.splice(0, state.events.length - MAX_EVENTS);
  $('events-note').textContent = `${m.space} at version ${m.version}; newest first.`;
  renderEvents();
}

function el(tag, props = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') n.className = v;
    else if (k.startsWith('data-')) n.setAttribute(k, v);
    else n[k] = v;
  }
  for (const c of children) n.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return n;
}

function renderEvents() {
  const items = state.events
    .slice()
    .reverse()
    .map((e) => {
      const what = el('span', {}, el('b', {}, e.op), ` ${e.collection}/${e.id}`);
      if (e.event) what.append(el('span', { class: 'muted' }, ` · ${e.event}`));
      if (e.redacted) what.append(' ', el('span', { class: 'badge redacted', 'data-testid': 'redacted' }, e.value === null ? 'value withheld' : 'masked'));
      const li = el('li', { 'data-testid': 'event', 'data-version': String(e.version) }, el('span', { class: 'v' }, `v${e.version}`), what);
      if (e.value !== null) li.append(el('code', {}, JSON.stringify(e.value)));
      return li;
    });
  $('events').replaceChildren(...items);
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function renderOverview(o) {
  for (const k of ['ws', 'sse', 'long_poll']) $(`conn-${k}`).textContent = String(o.connections[k]);
  $('loaded').textContent = String(o.totals.loaded_spaces);
  $('held').textContent = bytes(o.totals.held_bytes);
  $('queued').textContent = bytes(o.totals.outbound_queued_bytes);
  const rows = o.spaces.map((s) => {
    const tr = el(
      'tr',
      { 'data-space': s.space, 'data-testid': `space-${s.space}`, title: `Watch ${s.space}'s events` },
      el('td', {}, s.space),
      el('td', { class: 'num' }, s.version),
      el('td', { class: 'num' }, s.docs),
      el('td', { class: 'num' }, s.subscribers.ws),
      el('td', { class: 'num' }, s.subscribers.streams),
      el('td', { class: 'num' }, s.subscribers.waiters),
    );
    if (s.space === state.watch) tr.className = 'watched';
    tr.addEventListener('click', () => watch(s.space));
    return tr;
  });
  $('spaces').replaceChildren(...rows);
  const hidden = o.totals.loaded_spaces - o.spaces.length;
  $('spaces-note').textContent = hidden > 0 ? `${hidden} more not listed (the most subscribed are).` : '';
  const providers = o.catalog.providers.map((p) =>
    el(
      'tr',
      { 'data-testid': `provider-${p.id}` },
      el('td', {}, p.display_name),
      el('td', { class: 'muted' }, p.id),
      el('td', {}, el('span', { class: `badge ${p.status}`, 'data-testid': `provider-status-${p.id}` }, p.status || 'unknown')),
      el('td', {}, p.enabled ? 'yes' : 'no'),
      el('td', { class: 'num' }, p.models),
    ),
  );
  $('providers').replaceChildren(...providers);
  $('catalog-note').textContent = `catalog version ${o.catalog.version}`;
}

function watch(space) {
  space = space.trim();
  if (!space || !state.open) return;
  state.watch = space;
  sessionStorage.setItem(WATCH_KEY, space);
  $('watch-space').value = space;
  state.events = [];
  renderEvents();
  $('events-note').textContent = `Watching ${space}…`;
  for (const tr of $('spaces').children) tr.className = tr.dataset.space === space ? 'watched' : '';
  connect();
}

$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  state.token = $('token').value.trim();
  $('token').value = '';
  if (state.token) sessionStorage.setItem(KEY, state.token);
  else sessionStorage.removeItem(KEY);
  open();
});
$('forget').addEventListener('click', () => {
  state.token = '';
  sessionStorage.removeItem(KEY);
  wipe();
  status('Token forgotten.');
});
$('mint').addEventListener('click', async () => {
  const r = await fetch('/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: 'inspector', role: 'admin', ttl_secs: 3600 }),
  });
  const body = await r.json().catch(() => null);
  if (r.status !== 200) {
    const why = body && body.error ? body.error.message : `HTTP ${r.status}`;
    status(r.status === 404 ? 'Dev tokens exist only with --dev.' : `No dev token: ${why}`, 'error');
    return;
  }
  state.token = body.token;
  sessionStorage.setItem(KEY, state.token);
  open();
});
$('watch-form').addEventListener('submit', (e) => {
  e.preventDefault();
  watch($('watch-space').value);
});

open();
