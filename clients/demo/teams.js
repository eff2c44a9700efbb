// The demo page's team panel (served as /demo/teams.js with --dev; the page
// imports it): create a team, list mine, pick one, manage its members (owners),
// edit its shared settings document (editors; viewers read), and see who has it
// open (presence). Plain DOM. What it shows comes from the team space itself
// (`_members`, `_team/info`, `settings/shared`), live, and from my own space's
// index `_teams/{id}` (also live), so a team I am added to appears at once.

const ROLES = ['viewer', 'editor', 'owner'];
const FIELDS = [
  { key: 'announcement', label: 'Announcement', placeholder: 'e.g. Release on Friday' },
  { key: 'channel', label: 'Chat channel', placeholder: '#design' },
];
const TYPING_MS = 1500;

/**
 * Mounts the panel into `root` for the signed-in `user`. `client` and `me`
 * are the page's client and `user:me` space; `api(method, path, body)`
 * answers `{status, ok, json}`; `h` and `notice` are the page's element
 * builder and notices. Returns `{close(), spaces()}`.
 */
export function mountTeams({ root, client, me, user, api, h, notice }) {
  const LS_SELECTED = `tidemark-demo:team:${user}`;
  const T = {
    teams: [], // [{id, space, name, role}] from GET /v1/teams
    loaded: false,
    listError: '',
    selected: null,
    removed: new Map(), // team id -> {name, code}: cut off while this page had it open
    opened: new Map(), // team id -> {space, offs}
    typing: false,
    typingTimer: null,
    loadSeq: 0,
    closed: false,
  };
  let D = null; // the selected team's elements, rebuilt when the selection changes

  const createName = h('input', { type: 'text', 'data-testid': 'team-name', placeholder: 'team name, e.g. Design', maxlength: 100, style: 'width:220px' });
  const createStatus = h('span', { class: 'saved', 'data-testid': 'team-create-status' });
  const list = h('div', { class: 'team-list', 'data-testid': 'team-list', role: 'listbox', 'aria-label': 'My teams' });
  const detail = h('div', { class: 'team-detail', 'data-testid': 'team-detail' });
  root.replaceChildren(
    h('form', { class: 'row', onsubmit: (ev) => { ev.preventDefault(); createTeam(); } },
      createName, h('button', { class: 'primary', type: 'submit', 'data-testid': 'team-create' }, 'Create team'), createStatus),
    list,
    detail,
  );

  const errorText = (r) => (r.json && r.json.error && r.json.error.message) || `HTTP ${r.status}`;
  const teamOf = (id) => T.teams.find((t) => t.id === id) || null;
  const spaceName = (id) => (teamOf(id) && teamOf(id).space) || `team:${id}`;
  const idOfSpace = (name) => (typeof name === 'string' && name.startsWith('team:') ? name.slice(5) : null);

  // ── the list of my teams ──

  async function loadTeams() {
    const seq = ++T.loadSeq;
    let r;
    try {
      r = await api('GET', '/v1/teams');
    } catch (e) {
      r = { status: 0, ok: false, json: { error: { message: e.message } } };
    }
    if (T.closed || seq !== T.loadSeq) return;
    if (!r.ok || !Array.isArray(r.json)) {
      T.listError = `Could not list your teams: ${errorText(r)}`;
      renderList();
      return;
    }
    const before = new Set(T.teams.map((t) => t.id));
    const names = new Map(T.teams.map((t) => [t.id, t.name]));
    T.teams = r.json.slice().sort((a, b) => String(a.name).localeCompare(String(b.name)) || (a.id < b.id ? -1 : 1));
    T.listError = '';
    const first = !T.loaded;
    T.loaded = true;
    const listed = new Set(T.teams.map((t) => t.id));
    let revived = false;
    for (const t of T.teams) {
      // Listed again (added back): resubscribe, the client dropped the space when it was cut off.
      if (T.removed.delete(t.id) && T.opened.has(t.id) && T.opened.get(t.id).space.error) revived = true;
    }
    if (revived) client.forceSync().catch(() => {});
    if (first) {
      const remembered = localStorage.getItem(LS_SELECTED);
      if (remembered && listed.has(remembered)) select(remembered);
    } else if (T.selected && before.has(T.selected) && !listed.has(T.selected) && !T.removed.has(T.selected)) {
      // Gone from my index while open: removed (the team space says `revoked` too, maybe a moment later).
      T.removed.set(T.selected, { name: names.get(T.selected) || T.selected, code: 'removed' });
    }
    renderList();
    renderDetail();
  }

  async function createTeam() {
    const name = createName.value.trim();
    if (!name) {
      createStatus.textContent = 'give the team a name';
      return;
    }
    createStatus.className = 'saved';
    createStatus.textContent = 'creating…';
    const r = await api('POST', '/v1/teams', { name }).catch((e) => ({ ok: false, status: 0, json: { error: { message: e.message } } }));
    if (T.closed) return;
    if (!r.ok) {
      createStatus.className = 'saved err';
      createStatus.textContent = `not created: ${errorText(r)}`;
      return;
    }
    createName.value = '';
    createStatus.textContent = `created ${r.json.name}`;
    if (!teamOf(r.json.id)) T.teams.push(r.json);
    select(r.json.id);
    loadTeams();
  }

  function renderList() {
    const items = [];
    const shown = T.teams.map((t) => ({ ...t, gone: T.removed.has(t.id) }));
    for (const [id, r] of T.removed) if (!teamOf(id)) shown.push({ id, name: r.name, role: null, gone: true });
    for (const t of shown) {
      const on = t.id === T.selected;
      items.push(h('button', {
        type: 'button', class: `team-item${on ? ' on' : ''}${t.gone ? ' gone' : ''}`, role: 'option', 'aria-selected': on ? 'true' : 'false',
        'data-testid': 'team-item', 'data-team': t.id, onclick: () => select(t.id),
      }, h('span', null, t.name), h('span', { class: `pill${t.gone ? ' unavailable' : ''}` }, t.gone ? 'removed' : t.role)));
    }
    if (T.listError) items.push(h('span', { class: 'saved err', 'data-testid': 'team-list-error' }, T.listError));
    else if (!T.loaded) items.push(h('span', { class: 'muted' }, 'Loading your teams…'));
    else if (!shown.length) items.push(h('span', { class: 'muted', 'data-testid': 'team-none' }, 'No teams yet: create one, or ask an owner to add you.'));
    list.replaceChildren(...items);
  }

  // ── the selected team ──

  function open(id) {
    let o = T.opened.get(id);
    if (!o) {
      const space = client.space(spaceName(id));
      o = { space, offs: [space.on('change', () => { if (T.selected === id) renderDetail(); }), space.on('presence', () => { if (T.selected === id) renderOnline(); })] };
      T.opened.set(id, o);
    }
    return o;
  }

  function select(id) {
    if (T.selected && T.selected !== id && T.opened.has(T.selected)) {
      // The client keeps the space subscribed; say this tab is looking elsewhere.
      T.opened.get(T.selected).space.setPresence({ tab: 'elsewhere', typing: false });
    }
    T.selected = id;
    localStorage.setItem(LS_SELECTED, id);
    D = null;
    if (!T.removed.has(id)) {
      open(id);
      sendPresence();
    }
    renderList();
    renderDetail();
  }

  function sendPresence() {
    const o = T.selected && T.opened.get(T.selected);
    if (!o || removedInfo(T.selected)) return;
    o.space.setPresence({ tab: document.hidden ? 'hidden' : 'visible', typing: T.typing });
  }

  function setTyping(on) {
    clearTimeout(T.typingTimer);
    if (on) T.typingTimer = setTimeout(() => setTyping(false), TYPING_MS);
    if (T.typing === on) return;
    T.typing = on;
    sendPresence();
    if (!on) renderFields();
  }

  /** `{name, code}` when this page was cut off from team `id`, else null. */
  function removedInfo(id) {
    const o = T.opened.get(id);
    const err = o && o.space.error;
    if (err && (err.code === 'revoked' || err.code === 'forbidden')) {
      const prev = T.removed.get(id);
      const name = (prev && prev.name) || (teamOf(id) && teamOf(id).name) || id;
      if (!prev || prev.code !== err.code) T.removed.set(id, { name, code: err.code });
    }
    return T.removed.get(id) || null;
  }

  function myRole(id) {
    const o = T.opened.get(id);
    const m = o && o.space.get('_members', user);
    if (m && ROLES.includes(m.role)) return m.role;
    const t = teamOf(id);
    return t ? t.role : null;
  }

  function buildDetail(id) {
    const fields = {};
    const fieldRows = FIELDS.map((f) => {
      const input = h('input', { type: 'text', 'data-testid': `shared-${f.key}`, placeholder: f.placeholder, maxlength: 200, style: 'width:260px', oninput: () => saveField(f.key, input.value), onblur: () => { setTyping(false); renderFields(); } });
      fields[f.key] = input;
      return h('div', { class: 'row' }, h('label', { class: 'label' }, f.label), input);
    });
    const review = h('input', { type: 'checkbox', 'data-testid': 'shared-review_required', onchange: () => saveShared({ review_required: review.checked }, 'The review setting') });
    fields.review_required = review;
    const inviteUser = h('input', { type: 'text', 'data-testid': 'invite-user', placeholder: 'user name, e.g. bob', maxlength: 128, style: 'width:180px' });
    const inviteRole = h('select', { 'data-testid': 'invite-role' }, ['editor', 'viewer', 'owner'].map((r) => h('option', { value: r }, r)));
    const inviteStatus = h('span', { class: 'saved', 'data-testid': 'invite-status' });
    D = {
      id,
      title: h('h3', { 'data-testid': 'team-title' }),
      role: h('span', { class: 'pill', 'data-testid': 'team-role' }),
      banner: h('div', { class: 'notice error', 'data-testid': 'team-revoked', role: 'alert', hidden: true }),
      members: h('ul', { class: 'members', 'data-testid': 'team-members' }),
      invite: h('form', { class: 'row', 'data-testid': 'invite-form', onsubmit: (ev) => { ev.preventDefault(); invite(inviteUser, inviteRole, inviteStatus); } },
        inviteUser, inviteRole, h('button', { class: 'primary', type: 'submit', 'data-testid': 'invite-submit' }, 'Add member'), inviteStatus),
      fields,
      status: h('span', { class: 'saved', 'data-testid': 'shared-status' }),
      online: h('ul', { class: 'online', 'data-testid': 'team-online', 'aria-live': 'polite' }),
    };
    detail.replaceChildren(
      h('div', { class: 'phead' }, D.title, D.role, h('span', { class: 'mono muted' }, spaceName(id))),
      D.banner,
      h('div', { class: 'team-cols' },
        h('div', null,
          h('h4', null, 'Shared settings ', h('code', null, 'settings/shared')),
          ...fieldRows,
          h('div', { class: 'row' }, h('span', { class: 'label' }, 'Review'), h('label', { class: 'switch' }, review, 'Changes need a review')),
          h('div', { class: 'row' }, D.status)),
        h('div', null,
          h('h4', null, 'Who’s online'), D.online,
          h('h4', null, 'Members'), D.members, D.invite)),
    );
  }

  function renderDetail() {
    if (T.closed) return;
    const id = T.selected;
    if (!id) {
      D = null;
      detail.replaceChildren(h('p', { class: 'muted' }, T.loaded && T.teams.length ? 'Pick a team to see its members and shared settings.' : ''));
      return;
    }
    if (!D || D.id !== id) buildDetail(id);
    const o = T.opened.get(id);
    const info = o && o.space.get('_team', 'info');
    const gone = removedInfo(id);
    const role = gone ? null : myRole(id);
    D.title.textContent = (info && info.name) || (teamOf(id) && teamOf(id).name) || (gone && gone.name) || id;
    D.role.textContent = gone ? 'removed' : role || '…';
    D.role.className = `pill${gone ? ' unavailable' : role === 'owner' ? ' active' : ''}`;
    D.banner.hidden = !gone;
    D.banner.textContent = gone
      ? gone.code === 'forbidden'
        ? `You were removed from ${gone.name} (or were never a member): the server no longer lets you read it.`
        : `You were removed from ${gone.name}. Nothing more from this team reaches this page; what is shown is as it was when you were removed.`
      : '';
    renderMembers(role, gone);
    renderFields();
    renderOnline();
  }

  function renderMembers(role, gone) {
    const o = T.opened.get(D.id);
    const members = o ? o.space.list('_members') : [];
    const owner = role === 'owner' && !gone;
    D.members.replaceChildren(...members.map((m) => {
      const r = m.value && m.value.role;
      const self = m.id === user;
      const row = h('li', { 'data-testid': `member-${m.id}`, 'data-role': r }, h('b', null, m.id), self ? h('span', { class: 'muted' }, ' (you)') : null, ' ');
      if (owner && !self) {
        const sel = h('select', { 'data-testid': `member-role-${m.id}`, 'aria-label': `Role of ${m.id}`, onchange: () => setRole(m.id, sel.value) }, ROLES.map((x) => h('option', { value: x }, x)));
        sel.value = r;
        row.append(sel, ' ', h('button', { class: 'link', type: 'button', 'data-testid': `member-remove-${m.id}`, onclick: () => removeMember(m.id) }, 'remove'));
      } else {
        row.append(h('span', { class: 'pill' }, r));
        if (self && !gone && r !== 'owner') row.append(' ', h('button', { class: 'link', type: 'button', 'data-testid': 'team-leave', onclick: () => removeMember(user) }, 'leave'));
      }
      return row;
    }));
    if (!members.length) D.members.append(h('li', { class: 'muted' }, gone ? 'No longer visible to you.' : 'Loading…'));
    D.invite.hidden = !owner;
  }

  function shared() {
    const o = T.opened.get(D.id);
    const v = o && o.space.get('settings', 'shared');
    return v && typeof v === 'object' && !Array.isArray(v) ? v : {};
  }

  function renderFields() {
    if (!D) return;
    const gone = removedInfo(D.id);
    const role = myRole(D.id);
    const canWrite = !gone && (role === 'editor' || role === 'owner');
    const v = shared();
    for (const f of FIELDS) {
      const el = D.fields[f.key];
      el.disabled = !canWrite;
      // Live, also in the focused field, except while this user types in it.
      const next = typeof v[f.key] === 'string' ? v[f.key] : '';
      if (el.value !== next && !(T.typing && document.activeElement === el)) el.value = next;
    }
    D.fields.review_required.checked = v.review_required === true;
    D.fields.review_required.disabled = !canWrite;
    const o = T.opened.get(D.id);
    const doc = o && o.space.doc('settings', 'shared');
    D.status.className = 'saved';
    D.status.textContent = gone
      ? 'read-only: you are no longer a member'
      : role === 'viewer'
        ? 'read-only: you are a viewer'
        : doc && doc.pending
          ? 'saving…'
          : doc
            ? `saved · version ${doc.version}`
            : 'not set yet: editors and owners may fill it in';
  }

  function saveShared(patch, what, opts) {
    const o = T.opened.get(D.id);
    if (!o) return;
    o.space.patch('settings', 'shared', patch, opts).then(
      () => renderFields(),
      (e) => {
        if (e && e.code === 'closed') return;
        notice('error', `${what} was rolled back: ${e.code === 'forbidden' ? 'you may not change this team’s settings' : e.message || e.code}.`, { key: 'team-shared' });
        renderFields();
      },
    );
    renderFields();
  }

  function saveField(key, value) {
    setTyping(true);
    const label = FIELDS.find((f) => f.key === key).label;
    saveShared({ [key]: value }, `The change to “${label}”`, { debounceMs: 400 });
  }

  async function invite(userEl, roleEl, status) {
    const who = userEl.value.trim();
    if (!who) return;
    status.className = 'saved';
    status.textContent = 'adding…';
    const r = await api('PUT', `/v1/teams/${encodeURIComponent(D.id)}/members/${encodeURIComponent(who)}`, { role: roleEl.value }).catch((e) => ({ ok: false, status: 0, json: { error: { message: e.message } } }));
    if (!r.ok) {
      status.className = 'saved err';
      status.textContent = `not added: ${errorText(r)}`;
      return;
    }
    userEl.value = '';
    status.textContent = `${r.json.user} is now ${r.json.role}`;
  }

  async function setRole(who, role) {
    const r = await api('PUT', `/v1/teams/${encodeURIComponent(D.id)}/members/${encodeURIComponent(who)}`, { role }).catch((e) => ({ ok: false, status: 0, json: { error: { message: e.message } } }));
    if (!r.ok) notice('error', `${who}’s role was not changed: ${errorText(r)}.`, { key: 'team-role' });
    renderDetail();
  }

  async function removeMember(who) {
    const id = D.id;
    const r = await api('DELETE', `/v1/teams/${encodeURIComponent(id)}/members/${encodeURIComponent(who)}`).catch((e) => ({ ok: false, status: 0, json: { error: { message: e.message } } }));
    if (!r.ok) notice('error', `${who === user ? 'You did not leave' : `${who} was not removed`}: ${errorText(r)}.`, { key: 'team-remove' });
    else if (who === user) loadTeams();
  }

  // ── who's online ──

  function renderOnline() {
    if (!D) return;
    const o = T.opened.get(D.id);
    const gone = removedInfo(D.id);
    const byUser = new Map();
    for (const p of gone || !o ? [] : o.space.presence) {
      const s = p.state && typeof p.state === 'object' ? p.state : {};
      if (s.tab === 'elsewhere') continue;
      const u = byUser.get(p.user) || { tabs: 0, visible: false, typing: false, mine: false };
      u.tabs++;
      u.visible = u.visible || s.tab !== 'hidden';
      u.typing = u.typing || s.typing === true;
      u.mine = u.mine || p.client_id === client.clientId;
      byUser.set(p.user, u);
    }
    const users = [...byUser.keys()].sort();
    D.online.replaceChildren(...users.map((name) => {
      const u = byUser.get(name);
      const bits = [name === user ? 'you' : null, u.tabs > 1 ? `${u.tabs} tabs` : null, u.visible ? null : 'in the background', u.typing ? 'typing…' : null].filter(Boolean);
      return h('li', { 'data-testid': `online-${name}`, 'data-typing': u.typing ? 'true' : 'false' },
        h('span', { class: 'dot' }), h('b', null, name), bits.length ? h('span', { class: 'muted' }, ` · ${bits.join(' · ')}`) : null);
    }));
    if (!users.length) D.online.append(h('li', { class: 'muted' }, gone ? 'Not shown: you are no longer a member.' : 'Nobody (connecting…)'));
  }

  // ── wiring ──

  const onVisibility = () => sendPresence();
  document.addEventListener('visibilitychange', onVisibility);
  const offs = [
    me.on('change', (ev) => { if (ev.changes.some((c) => c.collection === '_teams')) loadTeams(); }),
    client.on('error', (e) => {
      const id = e && idOfSpace(e.space);
      if (id && (e.code === 'revoked' || e.code === 'forbidden') && T.opened.has(id)) {
        renderList();
        if (id === T.selected) renderDetail();
      }
    }),
  ];
  renderList();
  renderDetail();
  loadTeams();

  return {
    close() {
      T.closed = true;
      clearTimeout(T.typingTimer);
      document.removeEventListener('visibilitychange', onVisibility);
      for (const off of offs) off();
      for (const o of T.opened.values()) for (const off of o.offs) off();
      root.replaceChildren();
    },
    /** The team spaces this page opened (for the sync badge's error text). */
    spaces: () => [...T.opened.values()].map((o) => o.space),
  };
}
