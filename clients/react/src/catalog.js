// Seed 001 (provider synchronization): the `catalog` space's `providers` and
// `models` collections behind the seed's hook names.
import { useCallback, useMemo, useSyncExternalStore } from 'react';
import { useTidemarkClient } from './ctx.js';
import { useCollection, useDoc, useStatus } from './hooks.js';
import { useCatalogEventsOf } from './events.js';
import { storeFor } from './store.js';
import { clockOf } from './util.js';

export const CATALOG = 'catalog';
const DAY_MS = 86_400_000;

function message(e) {
  return e ? e.message || String(e) : null;
}

function live(status) {
  return status === 'synced' || status === 'syncing';
}

/**
 * Seed 001's main hook: `{providers, models, isLoading, error, isConnected,
 * forceSync, status, lastSynced}`. `models` lists every model, deprecated
 * ones included (filter with useModels). Options: the catalog event callbacks
 * `onModelDeprecated(model)`, `onProviderStatus(provider)`, `onSyncEvent(e)`.
 */
export function useProviderSync(options = {}) {
  const client = useTidemarkClient();
  const providers = useCollection(CATALOG, 'providers');
  const models = useCollection(CATALOG, 'models');
  const st = useStatus();
  useCatalogEventsOf(client, options, !!(options.onModelDeprecated || options.onProviderStatus || options.onSyncEvent));
  const forceSync = useCallback(() => client.forceSync(), [client]);
  const err = providers.error || models.error;
  return useMemo(
    () => ({
      providers: providers.values,
      models: models.values,
      isLoading: !(providers.loaded && models.loaded) && !err,
      error: message(err),
      isConnected: live(st.status),
      status: st.status,
      lastSynced: st.lastSynced,
      forceSync,
    }),
    [providers, models, err, st.status, st.lastSynced, forceSync],
  );
}

/** Providers of the catalog; `{enabledOnly: true}` keeps those with `enabled`. */
export function useProviders({ enabledOnly = false } = {}) {
  const { values } = useCollection(CATALOG, 'providers');
  return useMemo(() => (enabledOnly ? values.filter((p) => p && p.enabled === true) : values), [values, enabledOnly]);
}

/**
 * Models of the catalog, optionally of one provider. Like the seed service
 * (`includeDeprecated: false`), deprecated and sunset models are left out
 * unless `includeDeprecated` is true.
 */
export function useModels({ providerId, includeDeprecated = false } = {}) {
  const { values } = useCollection(CATALOG, 'models');
  return useMemo(
    () => values.filter((m) => m && (!providerId || m.provider_id === providerId) && (includeDeprecated || m.deprecation_status === 'active')),
    [values, providerId, includeDeprecated],
  );
}

/** One model: `{model, isLoading, error}` (`model` undefined while unknown). */
export function useModel(id) {
  const d = useDoc(CATALOG, 'models', id);
  return useMemo(() => ({ model: d.value, isLoading: !d.loaded && !d.error, error: message(d.error) }), [d]);
}

/** `2026-12-01` or an RFC 3339 time -> day number (days since 1970-01-01), or null. */
export function dayNumber(s) {
  if (typeof s !== 'string' || !/^\d{4}-\d{2}-\d{2}/.test(s)) return null;
  const t = Date.parse(`${s.slice(0, 10)}T00:00:00Z`);
  return Number.isNaN(t) ? null : Math.floor(t / DAY_MS);
}

/** The server's `/provider-sync/providers/{id}/availability` body, from the catalog docs. */
export function providerAvailability(providers, id) {
  const p = providers[id];
  if (!p) return null;
  const f = p.fallback_provider_id ? providers[p.fallback_provider_id] : undefined;
  return {
    provider_id: id,
    provider_name: p.display_name ?? null,
    status: p.status ?? null,
    enabled: p.enabled ?? null,
    is_available: p.enabled === true && p.status !== 'unavailable',
    fallback_provider_id: p.fallback_provider_id ?? null,
    fallback_provider_name: f ? f.display_name ?? null : null,
    fallback_status: f ? f.status ?? null : null,
  };
}

/** The server's `/provider-sync/models/{id}/availability` body, from the catalog docs, at day `today`. */
export function modelAvailability(models, providers, id, today) {
  const m = models[id];
  if (!m) return null;
  const r = m.replacement_model_id ? models[m.replacement_model_id] : undefined;
  const sunset = dayNumber(m.sunset_date);
  const prov = m.provider_id ? providerAvailability(providers, m.provider_id) : null;
  return {
    model_id: id,
    model_name: m.name ?? null,
    provider_id: m.provider_id ?? null,
    is_available: !!(prov && prov.is_available) && m.deprecation_status !== 'sunset',
    deprecation_status: m.deprecation_status ?? null,
    deprecation_date: m.deprecation_date ?? null,
    sunset_date: m.sunset_date ?? null,
    replacement_model_id: m.replacement_model_id ?? null,
    replacement_model_name: r ? r.name ?? null : null,
    days_until_sunset: sunset === null ? null : sunset - today,
  };
}

function useToday() {
  const client = useTidemarkClient();
  const clock = clockOf(client);
  // The day changes rarely; reading it as a snapshot keeps renders consistent.
  const get = () => Math.floor(clock.now() / DAY_MS);
  return useSyncExternalStore(useCallback((fn) => storeFor(client).subscribeStatus(fn), [client]), get, get);
}

/** `{data, isLoading, error}`; `data` as the seed's model availability endpoint (replacement, days until sunset). */
export function useModelAvailability(id) {
  const models = useCollection(CATALOG, 'models');
  const providers = useCollection(CATALOG, 'providers');
  const today = useToday();
  const err = models.error || providers.error;
  const data = useMemo(() => modelAvailability(models.byId, providers.byId, id, today), [models, providers, id, today]);
  return { data, isLoading: !models.loaded && !err, error: message(err) };
}

/** `{data, isLoading, error}`; `data` as the seed's provider availability endpoint (status, fallback). */
export function useProviderAvailability(id) {
  const providers = useCollection(CATALOG, 'providers');
  const data = useMemo(() => providerAvailability(providers.byId, id), [providers, id]);
  return { data, isLoading: !providers.loaded && !providers.error, error: message(providers.error) };
}

/** `{isSynced, hasError, status, isConnected, lastSynced}` (seed 001's selector hook). */
export function useSyncStatus() {
  const st = useStatus();
  return useMemo(
    () => ({ isSynced: st.status === 'synced', hasError: st.status === 'error', status: st.status, isConnected: live(st.status), lastSynced: st.lastSynced }),
    [st],
  );
}
