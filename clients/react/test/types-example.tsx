// Typed usage of every export, checked by `tsc --noEmit` (npm test); never run.
// The components are the seeds' own snippets with only the import changed.
import { useState } from 'react';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { TidemarkClient, type ModelDoc, type UiSettings } from 'tidemark-client';
import {
  TidemarkProvider,
  ProviderSyncProvider,
  TidemarkContext,
  useTidemarkClient,
  useTidemarkStore,
  useSpace,
  useDoc,
  useCollection,
  useMutation,
  useStatus,
  CATALOG,
  useProviderSync,
  useProviders,
  useModels,
  useModel,
  useModelAvailability,
  useProviderAvailability,
  useSyncStatus,
  useCatalogEvents,
  dispatchCatalogEvent,
  modelAvailability,
  providerAvailability,
  catalogEventName,
  useRealtimeSettings,
  useSettingsSync,
  lockboxOf,
  PREFERENCES,
  useModelPreferences,
  SyncStatusBadge,
  badgeState,
  storeFor,
  diffPatch,
  useSyncState,
  useProvider,
  useModelsFromState,
  useSyncWebSocket,
  useProviderSyncWithWebSocket,
  type DocState,
  type StatusState,
  type CatalogSyncEvent,
} from 'tidemark-react';
import { syncQueryClient, tidemarkKey, tidemarkQueryOptions, useTidemarkQuerySync, useTidemarkQuery, QUERY_ROOT } from 'tidemark-react/query';

const client = new TidemarkClient({ url: 'https://sync.example', token: async () => 'jwt' });

// ── seed 001 ──
function ProviderList() {
  const { providers, isLoading, error, isConnected, forceSync } = useProviderSync({
    onModelDeprecated: (m) => console.warn(`${m.name} is ${m.deprecation_status}`),
    onProviderStatus: (p) => console.info(p.display_name, p.status),
    onSyncEvent: (e: CatalogSyncEvent) => console.debug(e.event_type, e.entity_id),
  });
  const enabled = useProviders({ enabledOnly: true });
  const models: ModelDoc[] = useModels({ providerId: 'openai', includeDeprecated: false });
  const { isSynced, hasError } = useSyncStatus();
  if (isLoading) return <p>Loading</p>;
  if (error) return <p>{error}</p>;
  return (
    <ul data-connected={isConnected} data-synced={isSynced && !hasError} onClick={() => void forceSync()}>
      {providers.map((p) => (
        <li key={p.id}>{p.display_name}</li>
      ))}
      <li>{enabled.length + models.length}</li>
    </ul>
  );
}

function ModelInfo({ modelId }: { modelId: string }) {
  const { model } = useModel(modelId);
  const { data: availability } = useModelAvailability(modelId);
  const { data: provider } = useProviderAvailability('openai');
  if (!model) return null;
  const days: number | null | undefined = availability?.days_until_sunset;
  return (
    <div>
      <h3>{model.name}</h3>
      {model.deprecation_status !== 'active' && <p>Use {availability?.replacement_model_name ?? 'another model'} ({days})</p>}
      {provider && !provider.is_available && <p>Try {provider.fallback_provider_name}</p>}
    </div>
  );
}

// Seed 001's React Query hooks.
function ModelSelector() {
  const { models, isConnected, forceSync } = useProviderSyncWithWebSocket();
  const { data, isLoading } = useSyncState();
  const { provider } = useProvider('openai');
  const { models: current } = useModelsFromState({ providerId: 'openai', excludeDeprecated: true });
  const ws = useSyncWebSocket({ onEvent: (event) => console.log(event.event_type) });
  if (isLoading || !data) return null;
  return (
    <select data-connected={isConnected && ws.isConnected} onFocus={() => void forceSync()} title={provider?.display_name}>
      {[...models, ...current, ...data.all_models].map((m) => (
        <option key={m.id} value={m.id}>
          {m.name} ({data.metadata.version})
        </option>
      ))}
    </select>
  );
}

// ── seed 002 ──
function SettingsPage() {
  const [settings, setSettings] = useState<UiSettings>({ theme: 'light', language: 'en' });
  const { syncState, saveNow, discard, isSyncing, hasUnsavedChanges, syncError, syncSettings, forceSyncFromDatabase } = useSettingsSync(settings, setSettings, {
    debounceMs: 1500,
  });
  const cleanup: () => void = useRealtimeSettings({
    onSettingsUpdate: (s) => console.log(s?.theme),
    onApiKeysUpdate: (keys) => console.log(keys.openai?.last4),
  });
  return (
    <div data-state={syncState.status}>
      {isSyncing && <div>Syncing...</div>}
      {hasUnsavedChanges && <div>Unsaved changes</div>}
      {syncError && <div>Error: {syncError}</div>}
      <button onClick={() => void saveNow()}>Save Now</button>
      <button onClick={() => void syncSettings()}>Save</button>
      <button onClick={discard}>Discard</button>
      <button onClick={() => void forceSyncFromDatabase()}>Refresh</button>
      <button onClick={cleanup}>Stop live updates</button>
      <select value={settings.theme ?? 'system'} onChange={(e) => setSettings({ ...settings, theme: e.target.value as UiSettings['theme'] })} />
    </div>
  );
}

// ── seed 000 ──
function Preferences() {
  const { preferences, isLoading, isSaving, error, toggleModel, setProviderModels, setProviderEnabled, forceRefresh, isStale, getLastSyncedRelative } =
    useModelPreferences();
  if (isLoading) return null;
  const openai = preferences.openai;
  return (
    <div aria-busy={isSaving} title={error ?? getLastSyncedRelative()}>
      <SyncStatusBadge onRefresh={() => void forceRefresh()} labels={{ stale: 'Refresh recommended', synced: (s) => `OK ${s.lastSyncedRelative}` }} />
      {openai?.enabled_models.map((m) => (
        <label key={m}>
          <input type="checkbox" checked onChange={() => void toggleModel('openai', m)} />
          {m}
        </label>
      ))}
      <button onClick={() => void setProviderModels('openai', ['gpt-4o'])} disabled={isStale()} />
      <button onClick={() => void setProviderEnabled('openai', false)} />
    </div>
  );
}

// ── generic hooks ──
function Generic() {
  const me = useSpace('user:me');
  const ui: DocState<UiSettings> = useDoc<UiSettings>('user:me', 'settings', 'ui');
  const models = useCollection<ModelDoc>(CATALOG, 'models');
  const { patch, put, remove, isPending, error, reset } = useMutation();
  const status: StatusState = useStatus();
  const c: TidemarkClient = useTidemarkClient();
  const store = useTidemarkStore();
  useCatalogEvents({ onModelDeprecated: (m) => m.replacement_model_id });
  useTidemarkQuerySync({ spaces: [CATALOG] });
  const q = useTidemarkQuery<ModelDoc>(CATALOG, 'models', 'gpt-4o');
  const all = useTidemarkQuery<ModelDoc>(CATALOG, 'models');
  const theme: UiSettings['theme'] | undefined = ui.value?.theme;
  // @ts-expect-error: a document's value is possibly undefined
  ui.value.theme;
  void patch('user:me', 'settings', 'ui', { theme: 'dark' }, { debounceMs: 300 }).then((r) => r.version);
  void put(me, PREFERENCES, 'openai', { enabled_models: [], is_enabled: true });
  void remove('user:me', 'settings', 'old', { ifVersion: 3 });
  return (
    <p onClick={reset} data-pending={isPending || ui.pending} data-error={error?.code}>
      {theme} {models.values.length} {status.lastSyncedRelative} {c.status} {store.getStatus().pendingCount} {q.data?.name} {all.data?.length}
    </p>
  );
}

export function App() {
  const queryClient = new QueryClient();
  const stop = syncQueryClient(queryClient, client, { spaces: ['catalog'] });
  stop();
  const key: string[] = tidemarkKey('catalog', 'models', 'gpt-4o');
  const opts = tidemarkQueryOptions<ModelDoc>(client, 'catalog', 'models', 'gpt-4o');
  const s = storeFor(client);
  const badge = badgeState(s.getStatus());
  dispatchCatalogEvent(undefined, { onSyncEvent: () => {} });
  const patch = diffPatch({ a: 1 }, { a: 2 });
  const name: string | null = catalogEventName('models', { deprecation_status: 'active' }, { deprecation_status: 'sunset' });
  const avail = modelAvailability({}, {}, 'x', 0)?.is_available;
  const pavail = providerAvailability({}, 'x')?.fallback_status;
  const keys = lockboxOf(client.space('user:me'));
  return (
    <QueryClientProvider client={queryClient}>
      <TidemarkContext.Provider value={client}>
        <TidemarkProvider client={client}>
          <ProviderList />
        </TidemarkProvider>
      </TidemarkContext.Provider>
      <ProviderSyncProvider config={{ url: 'https://sync.example', token: 'jwt', pollingInterval: 30_000, heartbeatInterval: 25_000, enableWebSocket: true }} onModelDeprecated={(m) => m.id}>
        <ModelInfo modelId="gpt-4o" />
        <ModelSelector />
        <SettingsPage />
        <Preferences />
        <Generic />
      </ProviderSyncProvider>
      <TidemarkProvider url="https://sync.example" token="jwt" staleAfterMs={60_000}>
        <p>
          {key.join('/')} {opts.queryKey.length} {badge.label} {JSON.stringify(patch)} {name} {String(avail)} {pavail} {Object.keys(keys).length} {QUERY_ROOT}
        </p>
      </TidemarkProvider>
    </QueryClientProvider>
  );
}

// @ts-expect-error: a provider needs a client or a token
export const bad = <TidemarkProvider url="https://sync.example" />;
