// tidemark-react: React bindings for the tidemark client (see README.md).
export { TidemarkProvider, ProviderSyncProvider } from './context.js';
export { TidemarkContext, useTidemarkClient, useTidemarkStore } from './ctx.js';
export { useSpace, useDoc, useCollection, useMutation, useStatus } from './hooks.js';
export {
  CATALOG,
  useProviderSync,
  useProviders,
  useModels,
  useModel,
  useModelAvailability,
  useProviderAvailability,
  useSyncStatus,
  modelAvailability,
  providerAvailability,
} from './catalog.js';
export { useCatalogEvents, dispatchCatalogEvent } from './events.js';
export { useRealtimeSettings, useSettingsSync, lockboxOf } from './settings.js';
export { PREFERENCES, useModelPreferences } from './preferences.js';
export { SyncStatusBadge, badgeState } from './badge.js';
export { storeFor, ClientStore } from './store.js';
export { catalogEventName, diffPatch } from './util.js';
export { useSyncState, useProvider, useModelsFromState, useSyncWebSocket, useProviderSyncWithWebSocket } from './seed001.js';
