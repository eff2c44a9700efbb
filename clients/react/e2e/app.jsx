// The end-to-end tests' React app (built with esbuild by ./react.mjs, React's
// development build, tidemark-client bundled in as an app would have it).
// The query string says what to show:
//   ?token=JWT            the user's token (required)
//   &show=theme,badge,... the parts to mount (each may appear more than once)
//   &strict               wrap everything in React.StrictMode
// and `window.t` lets the test look and act: t.show([...parts]) remounts
// parts, t.listeners() counts the client's registered listeners, t.mounts /
// t.unmounts count the parts' effect runs, t.deprecated / t.providerStatus
// record the catalog callbacks.
import { StrictMode, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { flushSync } from 'react-dom';
import {
  TidemarkProvider,
  SyncStatusBadge,
  storeFor,
  useCollection,
  useDoc,
  useModelPreferences,
  useModels,
  useMutation,
  useProviderSync,
  useRealtimeSettings,
  useSettingsSync,
  useStatus,
  useTidemarkClient,
} from 'tidemark-react';

const q = new URLSearchParams(location.search);
const t = (window.t = { mounts: 0, unmounts: 0, deprecated: [], providerStatus: [], settingsUpdates: 0 });

/** useDoc + useMutation on settings/ui: shows the theme, buttons set it. */
function Theme() {
  const { value, version } = useDoc('user:me', 'settings', 'ui');
  const { patch } = useMutation();
  return (
    <section data-testid="theme-part" data-version={version}>
      theme: <b data-testid="theme">{(value && value.theme) || ''}</b>
      {['light', 'dark', 'system'].map((th) => (
        <button key={th} data-testid={`set-${th}`} onClick={() => patch('user:me', 'settings', 'ui', { theme: th })}>
          {th}
        </button>
      ))}
    </section>
  );
}

/** useSettingsSync with the seeds' 1.5 s debounce, on a language field. */
function Settings() {
  const [settings, setSettings] = useState({});
  const { syncState } = useSettingsSync(settings, setSettings, { debounceMs: 1500 });
  return (
    <section>
      <input data-testid="language" value={settings.language || ''} onChange={(e) => setSettings((s) => ({ ...s, language: e.target.value }))} />
      <span data-testid="settings-status">{syncState.status}</span>
    </section>
  );
}

/** useProviderSync with seed 001's callbacks, and the active models (useModels). */
function Catalog() {
  const { providers, isLoading } = useProviderSync({
    onModelDeprecated: (m, previous) => t.deprecated.push({ id: m.id, status: m.deprecation_status, was: previous && previous.deprecation_status, replacement: m.replacement_model_id }),
    onProviderStatus: (p, previous) => t.providerStatus.push({ id: p.id, status: p.status, was: previous && previous.status }),
  });
  const models = useModels();
  if (isLoading) return <p>loading</p>;
  return (
    <section data-testid="catalog" data-providers={providers.length}>
      <ul>
        {models.map((m) => (
          <li key={m.id} data-testid={`model-${m.id}`} data-max-output={m.max_output_tokens}>
            {m.name}
          </li>
        ))}
      </ul>
    </section>
  );
}

function Prefs() {
  const { preferences } = useModelPreferences();
  return <pre data-testid="prefs">{JSON.stringify(preferences)}</pre>;
}

function Realtime() {
  useRealtimeSettings({ onSettingsUpdate: () => t.settingsUpdates++ });
  return null;
}

function Collection() {
  const { docs } = useCollection('user:me', 'settings');
  return <span data-testid="settings-docs">{docs.length}</span>;
}

function Status() {
  const { status } = useStatus();
  return <span data-testid="status">{status}</span>;
}

const PARTS = { theme: Theme, settings: Settings, catalog: Catalog, prefs: Prefs, realtime: Realtime, collection: Collection, status: Status, badge: SyncStatusBadge };

/** Counts its effect's mounts and unmounts (StrictMode runs them twice in development). */
function Counted({ children }) {
  useEffect(() => {
    t.mounts++;
    return () => {
      t.unmounts++;
    };
  }, []);
  return children;
}

function Parts() {
  const [shown, setShown] = useState(() => (q.get('show') || '').split(',').filter(Boolean));
  t.show = (list) => flushSync(() => setShown(list));
  return (
    <div data-testid="parts" data-count={shown.length}>
      {shown.map((name, i) => {
        const Part = PARTS[name];
        if (!Part) throw new Error(`unknown part ${name}`);
        return (
          <Counted key={`${name}-${i}`}>
            <Part />
          </Counted>
        );
      })}
    </div>
  );
}

function Expose() {
  const client = useTidemarkClient();
  useEffect(() => {
    t.client = client;
  }, [client]);
  return null;
}

/**
 * The listeners registered on the client: its `status` and `error` handler
 * sets, and each space's `change` handlers (read from the client's own sets,
 * not from tidemark-react's bookkeeping). Spaces never opened count 0.
 */
t.listeners = () => {
  const c = t.client;
  if (!c || !c._handlers || !c._handlers.status) throw new Error('the client no longer keeps its listeners in _handlers.status/error: update e2e/app.jsx');
  const space = (name) => {
    const e = storeFor(c).spaces.get(name);
    return e ? e.space._handlers.size : 0;
  };
  return { status: c._handlers.status.size, error: c._handlers.error.size, me: space('user:me'), catalog: space('catalog') };
};

const tree = (
  <TidemarkProvider url={location.origin} token={q.get('token')}>
    <Expose />
    <Parts />
  </TidemarkProvider>
);
createRoot(document.getElementById('root')).render(q.has('strict') ? <StrictMode>{tree}</StrictMode> : tree);
