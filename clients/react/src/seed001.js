// Seed 001's React Query hook names (frontend/src/hooks/useProviderSync.ts),
// with their return shapes, over the same live catalog: no polling and no
// separate WebSocket, since the client keeps the catalog current.
import { useMemo } from 'react';
import { useCollection, useDoc } from './hooks.js';
import { useTidemarkStore } from './ctx.js';
import { CATALOG, useModels, useProviderSync, useSyncStatus } from './catalog.js';
import { useCatalogEvents } from './events.js';

function message(e) {
  return e ? e.message || String(e) : null;
}

/** `{data: {providers, all_models, metadata: {version, epoch}} | null, isLoading, error}`. */
export function useSyncState() {
  const store = useTidemarkStore();
  const providers = useCollection(CATALOG, 'providers');
  const models = useCollection(CATALOG, 'models');
  const err = providers.error || models.error;
  return useMemo(() => {
    const loaded = providers.loaded && models.loaded;
    const space = store.space(CATALOG);
    const data = loaded ? { providers: providers.values, all_models: models.values, metadata: { version: space.version, epoch: space.epoch } } : null;
    return { data, isLoading: !loaded && !err, error: message(err) };
  }, [store, providers, models, err]);
}

/** `{provider, isLoading, error}`. */
export function useProvider(id) {
  const d = useDoc(CATALOG, 'providers', id);
  return useMemo(() => ({ provider: d.value, isLoading: !d.loaded && !d.error, error: message(d.error) }), [d]);
}

/** `{models}`; `excludeDeprecated` as in the seed (default false: every model). */
export function useModelsFromState({ providerId, excludeDeprecated = false } = {}) {
  const models = useModels({ providerId, includeDeprecated: !excludeDeprecated });
  return useMemo(() => ({ models }), [models]);
}

/** `{isConnected}`; `onEvent(syncEvent)` for every catalog change pushed. */
export function useSyncWebSocket({ onEvent } = {}) {
  useCatalogEvents({ onSyncEvent: onEvent });
  const { isConnected } = useSyncStatus();
  return { isConnected };
}

/** Seed 001's combined hook: the same as useProviderSync (always live). */
export const useProviderSyncWithWebSocket = useProviderSync;
