// The React demo page (/demo/react, served with --dev): the settings demo
// written with tidemark-react's hooks, as the seed apps would use them.
//   - sign-in: development tokens from POST /dev/token (the user's name is
//     shared with the plain demo at /, so both pages sign in as the same user)
//   - <TidemarkProvider> makes the client; <SyncStatusBadge> with "Save now"
//   - seed 002: useSettingsSync (saved 1.5 s after the last edit) and
//     useRealtimeSettings (told when another tab or device changed them)
//   - seed 000: useModelPreferences (optimistic, rolled back if refused)
//   - seed 001: useProviderSync / useModels / useModelAvailability, with
//     onModelDeprecated and onProviderStatus shown as notices
//
// Built into app.js by `npm run build:demo` in clients/react (the server
// embeds that file; `tidemark-client` comes from /client/tidemark.js through
// the page's import map).
import { StrictMode, useCallback, useEffect, useMemo, useState } from 'react';
import { createRoot } from 'react-dom/client';
import {
  TidemarkProvider,
  SyncStatusBadge,
  useTidemarkClient,
  useStatus,
  useSettingsSync,
  useRealtimeSettings,
  useModelPreferences,
  useProviderSync,
  useModels,
  useModelAvailability,
} from 'tidemark-react';

const LS_USER = 'tidemark-demo:user';
const LS_TOKEN = 'tidemark-demo:token'; // the plain demo's cached token, dropped on sign-out
const THEMES = ['light', 'dark', 'system'];
// The stored settings/ui document holds only what the user changed; what is
// shown is that over these defaults (as the server's own settings endpoints do).
const DEFAULT_SETTINGS = { theme: 'light', language: 'en', preferences: {} };
const TRANSPORTS = { websocket: 'WebSocket', sse: 'server-sent events', poll: 'long-polling' };

// ───────────────────────── sign-in ─────────────────────────

/**
 * A development token for `user` (POST /dev/token). The provider's client
 * calls it when it starts and again before the token expires.
 */
async function devToken(user) {
  const r = await fetch('/dev/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user }) });
  if (r.status === 404) throw new Error('this server does not mint demo tokens: start it with --dev');
  const body = await r.json().catch(() => null);
  if (!r.ok) throw new Error((body && body.error && body.error.message) || `HTTP ${r.status}`);
  return body.token;
}

function SignIn({ onSignIn }) {
  const [name, setName] = useState('');
  const [error, setError] = useState('');
  const submit = async (ev) => {
    ev.preventDefault();
    const user = name.trim();
    if (!user) return;
    setError('');
    try {
      await devToken(user); // refused names fail here, not in the client
    } catch (e) {
      setError(`Could not sign in: ${e.message}`);
      return;
    }
    localStorage.setItem(LS_USER, user);
    onSignIn(user);
  };
  return (
    <main>
      <section className="card" id="signin">
        <h2>Sign in</h2>
        <p className="lead">
          Any name will do: the server mints a development token for it (<code>POST /dev/token</code>, only with <code>--dev</code>).
          Open a second tab, or the <a href="/">plain demo</a>, to watch changes arrive.
        </p>
        <form className="row" onSubmit={submit}>
          <input type="text" data-testid="signin-name" placeholder="your name, e.g. alice" autoComplete="username" required maxLength={128} pattern="\S+" value={name} onChange={(e) => setName(e.target.value)} autoFocus />
          <button className="primary" type="submit" data-testid="signin-submit">Sign in</button>
          <span className="err" data-testid="signin-error">{error}</span>
        </form>
      </section>
    </main>
  );
}

function App() {
  const [user, setUser] = useState(() => localStorage.getItem(LS_USER));
  const token = useMemo(() => (user ? () => devToken(user) : null), [user]);
  const signOut = useCallback(() => {
    localStorage.removeItem(LS_USER);
    localStorage.removeItem(LS_TOKEN);
    setUser(null);
  }, []);
  return (
    <>
      <header className="top">
        <div className="brand">
          tidemark<small>React demo</small>
        </div>
        <div className="spacer" />
        {user ? null : <a href="/">plain demo</a>}
      </header>
      {user ? (
        // One client per signed-in user: a new key makes a new provider (and client).
        <TidemarkProvider key={user} url={location.origin} token={token}>
          <Session user={user} onSignOut={signOut} />
        </TidemarkProvider>
      ) : (
        <SignIn onSignIn={setUser} />
      )}
    </>
  );
}

// ───────────────────────── the signed-in page ─────────────────────────

let noticeSeq = 0;

function Session({ user, onSignOut }) {
  const client = useTidemarkClient();
  const [notices, setNotices] = useState([]);
  const notify = useCallback((kind, text) => setNotices((list) => [{ id: ++noticeSeq, kind, text }, ...list].slice(0, 4)), []);
  const dismiss = (id) => setNotices((list) => list.filter((n) => n.id !== id));
  useEffect(() => {
    // For the end-to-end tests and the curious (as the plain demo's window.demo).
    window.demo = { client, user };
    return () => {
      if (window.demo && window.demo.client === client) delete window.demo;
    };
  }, [client, user]);
  return (
    <>
      <div className="bar">
        <SyncStatusBadge />
        <Transport />
        <div className="spacer" />
        <span className="who">
          signed in as <b data-testid="user">{user}</b>
        </span>
        <button data-testid="signout" onClick={onSignOut}>
          Sign out
        </button>
      </div>
      <main>
        <div id="notices">
          {notices.map((n) => (
            <div key={n.id} className={`notice ${n.kind}`} data-testid="notice" data-kind={n.kind} role="status">
              <span className="msg">{n.text}</span>
              <button className="close" aria-label="Dismiss" onClick={() => dismiss(n.id)}>
                ×
              </button>
            </div>
          ))}
        </div>
        <Settings notify={notify} />
        <Catalog notify={notify} />
      </main>
      <footer>
        Built with <code>tidemark-react</code> (<code>clients/demo/react/app.jsx</code>). The <a href="/">plain demo</a> shows the same data without React.
      </footer>
    </>
  );
}

function Transport() {
  const client = useTidemarkClient();
  const { status, pendingCount } = useStatus();
  const live = status === 'synced' || status === 'syncing';
  const via = live && client.transport ? `via ${TRANSPORTS[client.transport] || client.transport}` : '';
  const waiting = pendingCount > 0 ? `${pendingCount} change${pendingCount === 1 ? '' : 's'} waiting` : '';
  return (
    <span className="transport" data-testid="transport">
      {[via, waiting].filter(Boolean).join(' · ')}
    </span>
  );
}

// ───────────────────────── seed 002: settings ─────────────────────────

const STATUS_TEXT = { loading: 'Loading…', synced: 'All changes saved', unsaved: 'Unsaved: saving 1.5 s after your last edit', saving: 'Saving…', error: 'Not saved' };

function Settings({ notify }) {
  // The stored document (no defaults in it: they would be adopted away and never saved).
  const [settings, setSettings] = useState({});
  const { syncState, saveNow, discard, syncError } = useSettingsSync(settings, setSettings, { debounceMs: 1500 });
  useRealtimeSettings({ onSettingsUpdate: () => notify('info', 'Settings changed in another tab or device.') });
  const shown = { ...DEFAULT_SETTINGS, ...settings };
  useEffect(() => {
    document.documentElement.dataset.theme = shown.theme;
  }, [shown.theme]);
  const set = (patch) => setSettings((s) => ({ ...s, ...patch }));
  const prefs = shown.preferences || {};
  const setPref = (k, v) => setSettings((s) => ({ ...s, preferences: { ...(s.preferences || {}), [k]: v } }));
  return (
    <section className="card">
      <h2>Settings</h2>
      <p className="lead">
        <code>useSettingsSync(settings, setSettings, {'{ debounceMs: 1500 }'})</code>: edits are saved 1.5 s after the last one, as one merge patch;
        the badge shows them as unsaved until then (its "Save now" sends them at once).
      </p>
      <div className="row">
        <span className="label">Theme</span>
        <span className="seg" role="radiogroup">
          {THEMES.map((t) => (
            <label key={t}>
              <input type="radio" name="theme" data-testid={`theme-${t}`} checked={shown.theme === t} onChange={() => set({ theme: t })} />
              {t}
            </label>
          ))}
        </span>
      </div>
      <div className="row">
        <span className="label">Language</span>
        <input type="text" data-testid="language" value={shown.language} onChange={(e) => set({ language: e.target.value })} placeholder="en, pt-BR, …" />
      </div>
      <div className="row">
        <span className="label">Messages</span>
        <label className="switch">
          <input type="checkbox" data-testid="send-on-enter" checked={!!prefs.send_on_enter} onChange={(e) => setPref('send_on_enter', e.target.checked)} />
          send on Enter
        </label>
        <label className="switch">
          <input type="checkbox" data-testid="compact" checked={!!prefs.compact} onChange={(e) => setPref('compact', e.target.checked)} />
          compact
        </label>
      </div>
      <div className="row">
        <span className="label" />
        <span className={`saved ${syncState.status === 'error' ? 'err' : ''}`} data-testid="settings-status" data-status={syncState.status}>
          {STATUS_TEXT[syncState.status]}
          {syncError ? `: ${syncError}` : ''}
        </span>
        <button data-testid="settings-save" disabled={!syncState.hasUnsavedChanges} onClick={() => saveNow()}>
          Save now
        </button>
        <button data-testid="settings-discard" disabled={!syncState.hasUnsavedChanges && !syncError} onClick={discard}>
          Discard
        </button>
      </div>
    </section>
  );
}

// ───────────────────────── seeds 001 and 000: catalog and preferences ─────────────────────────

function Catalog({ notify }) {
  const { providers, isLoading, error, isConnected } = useProviderSync({
    onModelDeprecated: (m) => notify('warn', `${m.name} is now ${m.deprecation_status}${m.replacement_model_id ? `: switch to ${m.replacement_model_id}` : ''}.`),
    onProviderStatus: (p) => notify(p.status === 'available' ? 'info' : 'warn', `${p.display_name} is ${p.status}.`),
  });
  const prefs = useModelPreferences();
  return (
    <section className="card">
      <h2>Providers and models</h2>
      <p className="lead">
        The shared <code>catalog</code> (<code>useProviderSync</code>, <code>useModels</code>): status and deprecations arrive live,
        as notices through <code>onModelDeprecated</code> and <code>onProviderStatus</code>. Your choices are{' '}
        <code>useModelPreferences()</code>: shown at once, rolled back if the server refuses them.
      </p>
      {error ? <p className="err">{error}</p> : null}
      {prefs.error ? (
        <p className="err" data-testid="prefs-error">
          {prefs.error} <button onClick={prefs.clearError}>OK</button>
        </p>
      ) : null}
      {isLoading ? <p className="muted">{isConnected ? 'Loading the catalog…' : 'Connecting…'}</p> : null}
      {!isLoading && providers.length === 0 ? <p className="muted">The catalog is empty: an admin token writes it (see docs/protocol.md).</p> : null}
      {providers.map((p) => (
        <Provider key={p.id} provider={p} prefs={prefs.preferences[p.id]} onToggle={prefs.toggleModel} onEnable={prefs.setProviderEnabled} />
      ))}
    </section>
  );
}

function Provider({ provider: p, prefs, onToggle, onEnable }) {
  const models = useModels({ providerId: p.id, includeDeprecated: true });
  const chosen = (prefs && prefs.enabled_models) || [];
  const on = !!(prefs && prefs.is_enabled);
  return (
    <div className={`provider ${on ? '' : 'off'}`} data-testid={`provider-${p.id}`}>
      <div className="phead">
        <h3>{p.display_name || p.id}</h3>
        <span className={`pill ${p.status}`} data-testid={`provider-status-${p.id}`}>
          {p.status}
        </span>
        <div className="spacer" />
        <label className="switch">
          <input type="checkbox" data-testid={`provider-enabled-${p.id}`} checked={on} onChange={(e) => onEnable(p.id, e.target.checked)} />
          use {p.display_name || p.id}
        </label>
      </div>
      <ul className="models">
        {models.map((m) => (
          <Model key={m.id} model={m} checked={chosen.includes(m.id)} onToggle={() => onToggle(p.id, m.id)} />
        ))}
      </ul>
    </div>
  );
}

function Model({ model: m, checked, onToggle }) {
  const { data: a } = useModelAvailability(m.id);
  const old = m.deprecation_status && m.deprecation_status !== 'active';
  const details = [];
  if (a && a.replacement_model_name) details.push(`use ${a.replacement_model_name}`);
  if (a && a.days_until_sunset !== null) details.push(a.days_until_sunset > 0 ? `sunset in ${a.days_until_sunset} days` : 'no longer served');
  return (
    <li>
      <label className="m">
        <input type="checkbox" data-testid={`model-toggle-${m.id}`} checked={checked} onChange={onToggle} />
        {m.name} <span className="mid">{m.id}</span>
        {old ? (
          <span className={`pill ${m.deprecation_status}`} data-testid={`deprecation-${m.id}`}>
            {m.deprecation_status}
            {details.length ? ` · ${details.join(' · ')}` : ''}
          </span>
        ) : null}
      </label>
    </li>
  );
}

createRoot(document.getElementById('root')).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
