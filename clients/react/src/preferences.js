// Seed 000 (model preferences): the store's state and actions as a hook over
// the user's `model_preferences/{provider}` documents. Writes are optimistic:
// they show at once, and a write the server rejects is rolled back by the
// client (the view returns to "server state + the writes still pending").
import { useCallback, useMemo, useState } from 'react';
import { useTidemarkClient } from './ctx.js';
import { storeFor } from './store.js';
import { useAlive, useCollection, useStatus } from './hooks.js';

export const PREFERENCES = 'model_preferences';

function message(e) {
  return e ? e.message || String(e) : null;
}

/**
 * `{preferences, isLoading, isSaving, lastSynced, error, toggleModel,
 * setProviderModels, setProviderEnabled, forceRefresh, isStale,
 * getLastSyncedRelative, clearError}`. `preferences` maps a provider id to
 * `{enabled_models, is_enabled, last_updated, ...}`. The actions return the
 * write's promise (resolved on the server's ack); a rejected write is rolled
 * back and its message lands in `error`.
 */
export function useModelPreferences(options = {}) {
  const client = useTidemarkClient();
  const store = storeFor(client);
  const name = options.space || 'user:me';
  const col = useCollection(name, PREFERENCES);
  const st = useStatus();
  const [state, setState] = useState({ inflight: 0, error: null });
  const alive = useAlive();

  /** Patches one provider's document with `change(current)`, stamping `last_updated`. */
  const write = useCallback(
    (provider, change) => {
      const space = store.space(name);
      const current = space.get(PREFERENCES, provider);
      const patch = change(current || { enabled_models: [], is_enabled: true });
      if (!current && patch.is_enabled === undefined) patch.is_enabled = true;
      if (!current && patch.enabled_models === undefined) patch.enabled_models = [];
      patch.last_updated = new Date(store.clock.now()).toISOString();
      setState((s) => ({ ...s, inflight: s.inflight + 1 }));
      const p = space.patch(PREFERENCES, provider, patch);
      store.notifyStatus();
      const done = (error) => {
        store.notifyStatus();
        if (alive.current) setState((s) => ({ inflight: s.inflight - 1, error: error === undefined ? s.error : error }));
      };
      p.then(
        () => done(undefined),
        (e) => done(e),
      );
      return p;
    },
    [store, name],
  );

  const toggleModel = useCallback(
    (provider, modelId, enabled) =>
      write(provider, (cur) => {
        const list = Array.isArray(cur.enabled_models) ? cur.enabled_models : [];
        const on = enabled === undefined ? !list.includes(modelId) : !!enabled;
        const next = list.filter((m) => m !== modelId);
        if (on) next.push(modelId);
        return { enabled_models: next };
      }),
    [write],
  );
  const setProviderModels = useCallback((provider, modelIds) => write(provider, () => ({ enabled_models: [...modelIds] })), [write]);
  const setProviderEnabled = useCallback((provider, enabled) => write(provider, () => ({ is_enabled: !!enabled })), [write]);
  const forceRefresh = useCallback(() => client.forceSync(), [client]);
  const isStale = useCallback(() => client.isStale(store.clock.now()), [client, store]);
  const getLastSyncedRelative = useCallback(() => client.lastSyncedRelative(store.clock.now()), [client, store]);
  const clearError = useCallback(() => setState((s) => ({ ...s, error: null })), []);

  const error = state.error || col.error;
  return useMemo(
    () => ({
      preferences: col.byId,
      isLoading: !col.loaded && !error,
      isSaving: state.inflight > 0 || col.pending,
      lastSynced: st.lastSynced,
      error: message(error),
      toggleModel,
      setProviderModels,
      setProviderEnabled,
      forceRefresh,
      isStale,
      getLastSyncedRelative,
      clearError,
    }),
    [col, error, state.inflight, st.lastSynced, toggleModel, setProviderModels, setProviderEnabled, forceRefresh, isStale, getLastSyncedRelative, clearError],
  );
}
