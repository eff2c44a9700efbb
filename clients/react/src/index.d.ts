// Type declarations for tidemark-react (hand-written; see README.md).
import type { Context, ReactNode, ReactElement, CSSProperties } from 'react';
import type {
  TidemarkClient,
  TidemarkOptions,
  Space,
  Json,
  ChangeEvent,
  ModelDoc,
  ProviderDoc,
  ModelPreference,
  LockboxDoc,
  UiSettings,
  WriteResult,
} from 'tidemark-client';
import type {
  SpaceRef,
  DocState,
  CollectionState,
  StatusState,
  MutationApi,
  CatalogCallbacks,
  ModelAvailability,
  ProviderAvailability,
  QueryLike,
  CatalogSyncEvent,
  DocLocation,
  SettingsSyncState,
} from './types.js';

export type * from './types.js';

// ── provider and context ─────────────────────────────────────────────────────

interface ProviderBase extends CatalogCallbacks<ModelDoc, ProviderDoc> {
  children?: ReactNode;
}

/** Either an existing client (you close it), or the client's options (the provider makes it once and closes it on unmount). */
export type TidemarkProviderProps =
  | (ProviderBase & { client: TidemarkClient; config?: never })
  | (ProviderBase & Partial<TidemarkOptions> & { client?: undefined; config: TidemarkOptions & SeedProviderSyncConfig })
  | (ProviderBase & TidemarkOptions & SeedProviderSyncConfig & { client?: undefined; config?: undefined });

/** Seed 001's ProviderSyncConfig names the provider maps to the client's options. */
export interface SeedProviderSyncConfig {
  /** -> versionCheckMs */
  pollingInterval?: number;
  /** -> pingIntervalMs */
  heartbeatInterval?: number;
  /** -> backoffBaseMs */
  reconnectBaseDelay?: number;
  /** -> backoffMaxMs */
  reconnectMaxDelay?: number;
  /** -> syncTimeoutMs */
  syncTimeout?: number;
  /** -> staleAfterMs */
  cacheTtl?: number;
  /** false -> transports ['sse', 'poll'] */
  enableWebSocket?: boolean;
  /** false -> storage null */
  enableCache?: boolean;
  /** Ignored (tidemark has one base `url`). */
  apiBaseUrl?: string;
  wsUrl?: string;
  maxReconnectAttempts?: number;
  includeDeprecated?: boolean;
}

export declare function TidemarkProvider(props: TidemarkProviderProps): ReactElement;
/** Seed 001's name for TidemarkProvider. */
export declare const ProviderSyncProvider: typeof TidemarkProvider;

export declare const TidemarkContext: Context<TidemarkClient | null>;
/** The nearest provider's client; throws outside a provider. */
export declare function useTidemarkClient(): TidemarkClient;
/** The shared store behind the hooks (for adapters). */
export declare function useTidemarkStore(): ClientStore;

// ── generic hooks ────────────────────────────────────────────────────────────

/** The Space object (opened on first use); the component re-renders on every change of the space. */
export declare function useSpace(id: SpaceRef): Space;
export declare function useDoc<T = Json>(space: SpaceRef, collection: string, id: string): DocState<T>;
export declare function useCollection<T = Json>(space: SpaceRef, collection: string): CollectionState<T>;
export declare function useMutation(): MutationApi;
export declare function useStatus(): StatusState;

// ── seed 001: catalog ────────────────────────────────────────────────────────

export declare const CATALOG: 'catalog';

export interface ProviderSyncState {
  providers: ProviderDoc[];
  /** Every model, deprecated ones included. */
  models: ModelDoc[];
  isLoading: boolean;
  /** The error's message. */
  error: string | null;
  isConnected: boolean;
  status: StatusState['status'];
  lastSynced: Date | null;
  forceSync(): Promise<void>;
}

export declare function useProviderSync(options?: CatalogCallbacks<ModelDoc, ProviderDoc>): ProviderSyncState;
export declare function useProviders(options?: { enabledOnly?: boolean }): ProviderDoc[];
/** Deprecated and sunset models only with `includeDeprecated: true`. */
export declare function useModels(options?: { providerId?: string; includeDeprecated?: boolean }): ModelDoc[];
export declare function useModel(id: string): { model: ModelDoc | undefined; isLoading: boolean; error: string | null };
export declare function useModelAvailability(id: string): QueryLike<ModelAvailability>;
export declare function useProviderAvailability(id: string): QueryLike<ProviderAvailability>;
export declare function useSyncStatus(): { isSynced: boolean; hasError: boolean; status: StatusState['status']; isConnected: boolean; lastSynced: Date | null };
export declare function useCatalogEvents(callbacks: CatalogCallbacks<ModelDoc, ProviderDoc>): void;
export declare function dispatchCatalogEvent(event: ChangeEvent | undefined, callbacks: CatalogCallbacks<ModelDoc, ProviderDoc>): void;
export declare function modelAvailability(models: Record<string, ModelDoc>, providers: Record<string, ProviderDoc>, id: string, today: number): ModelAvailability | null;
export declare function providerAvailability(providers: Record<string, ProviderDoc>, id: string): ProviderAvailability | null;
/** Seed 001's event name for a catalog change (the server's rule), or null. */
export declare function catalogEventName(collection: string, previous: Json | undefined, value: Json | undefined): string | null;

// Seed 001's React Query hook names, same live data.
export declare function useSyncState(): QueryLike<{ providers: ProviderDoc[]; all_models: ModelDoc[]; metadata: { version: number; epoch: string | null } }>;
export declare function useProvider(id: string): { provider: ProviderDoc | undefined; isLoading: boolean; error: string | null };
/** Every model unless `excludeDeprecated`. */
export declare function useModelsFromState(options?: { providerId?: string; excludeDeprecated?: boolean }): { models: ModelDoc[] };
export declare function useSyncWebSocket(options?: { onEvent?: (event: CatalogSyncEvent) => void }): { isConnected: boolean };
export declare const useProviderSyncWithWebSocket: typeof useProviderSync;

// ── seed 002: settings ───────────────────────────────────────────────────────

export interface RealtimeSettingsOptions<S = UiSettings> extends DocLocation {
  onSettingsUpdate?: (settings: S | null) => void;
  onApiKeysUpdate?: (apiKeys: Record<string, LockboxDoc>) => void;
}

/** Subscribes to remote settings and lockbox changes; returns the cleanup function. */
export declare function useRealtimeSettings<S = UiSettings>(options?: RealtimeSettingsOptions<S>): () => void;

export interface SettingsSyncOptions extends DocLocation {
  /** Pause after the last edit before saving (default 1500). */
  debounceMs?: number;
  /** Seed 002's name for debounceMs. */
  autoSaveDelay?: number;
  /** false: save only with saveNow() (default true). */
  autoSave?: boolean;
}

export interface SettingsSync {
  syncState: SettingsSyncState;
  /** Saves the edits now (resolves on the ack; null when there was nothing to save). */
  saveNow(): Promise<WriteResult | null>;
  /** Drops unsaved edits: updateSettings gets the server value back. */
  discard(): void;
  isSyncing: boolean;
  hasUnsavedChanges: boolean;
  syncError: string | null;
  syncSettings(): Promise<WriteResult | null>;
  forceSyncFromDatabase(): Promise<void>;
}

export declare function useSettingsSync<S extends object = UiSettings>(settings: S, updateSettings: (next: S) => void, options?: SettingsSyncOptions): SettingsSync;
export declare function lockboxOf(space: Space): Record<string, LockboxDoc>;

// ── seed 000: model preferences and the badge ────────────────────────────────

export declare const PREFERENCES: 'model_preferences';

export interface ModelPreferencesState {
  /** Provider id -> its document. */
  preferences: Record<string, ModelPreference>;
  isLoading: boolean;
  isSaving: boolean;
  lastSynced: Date | null;
  error: string | null;
  /** Flips a model (or sets it with `enabled`). */
  toggleModel(provider: string, modelId: string, enabled?: boolean): Promise<WriteResult>;
  setProviderModels(provider: string, modelIds: string[]): Promise<WriteResult>;
  setProviderEnabled(provider: string, enabled: boolean): Promise<WriteResult>;
  forceRefresh(): Promise<void>;
  isStale(): boolean;
  getLastSyncedRelative(): string;
  clearError(): void;
}

export declare function useModelPreferences(options?: { space?: string }): ModelPreferencesState;

export type BadgeStateName = 'error' | 'unsaved' | 'syncing' | 'stale' | 'offline' | 'synced';
export interface BadgeState {
  state: BadgeStateName;
  color: 'red' | 'orange' | 'blue' | 'yellow' | 'grey' | 'green';
  label: string;
  /** Show "Save now". */
  canSave: boolean;
}
export declare function badgeState(status: StatusState): BadgeState;

export interface SyncStatusBadgeProps {
  /** Default: the client's forceSync(). */
  onRefresh?: () => void;
  showRefresh?: boolean;
  className?: string;
  style?: CSSProperties;
  labels?: Partial<Record<BadgeStateName, string | ((status: StatusState) => string)>>;
}
export declare function SyncStatusBadge(props?: SyncStatusBadgeProps): ReactElement;

// ── the store and helpers ────────────────────────────────────────────────────

export declare class ClientStore {
  readonly client: TidemarkClient;
  space(space: SpaceRef): Space;
  subscribeSpace(space: SpaceRef, fn: (event?: ChangeEvent) => void): () => void;
  subscribeStatus(fn: () => void): () => void;
  getDoc<T = Json>(space: SpaceRef, collection: string, id: string): DocState<T>;
  getCollection<T = Json>(space: SpaceRef, collection: string): CollectionState<T>;
  getRevision(space: SpaceRef): number;
  getStatus(): StatusState;
  notifyStatus(): void;
  setUnsaved(token: object, flush: (() => unknown) | null): void;
  /** Flushes debounced edits and asks the client to sync (the badge's "Save now"). */
  saveNow(): Promise<void>;
}
export declare function storeFor(client: TidemarkClient): ClientStore;
/** The RFC 7396 merge patch turning `from` into `to`, or undefined when equal. */
export declare function diffPatch(from: Json | undefined, to: Json | undefined): Json | undefined;
