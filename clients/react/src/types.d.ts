// Shared types of tidemark-react (hand-written; the JS is in the sibling .js files).
import type { Json, Space, SyncStatus, TidemarkError, ViewDoc, WriteOptions, WriteResult, DeprecationStatus, ProviderStatus } from 'tidemark-client';

/** A space by name (`user:me`, `catalog`, `user:{id}`) or the client's Space object. */
export type SpaceRef = string | Space;

/** A document as a view: the value typed by the caller. */
export interface TypedDoc<T> extends Omit<ViewDoc, 'value'> {
  value: T;
}

/** useDoc's snapshot. The same object until the document (or the status) changes. */
export interface DocState<T = Json> {
  /** The value (optimistic writes included); undefined while the document does not exist. */
  value: T | undefined;
  /** Space version of the document's last change (0: never written). */
  version: number;
  /** The value includes writes the server has not acknowledged yet. */
  pending: boolean;
  /** The space's (or the client's) error: refused token, forbidden space. */
  error: TidemarkError | null;
  /** The space has answered once (or was loaded from the cache). */
  loaded: boolean;
}

/** useCollection's snapshot, documents sorted by id. */
export interface CollectionState<T = Json> {
  docs: TypedDoc<T>[];
  values: T[];
  byId: Record<string, T>;
  /** Some document includes unacknowledged writes. */
  pending: boolean;
  error: TidemarkError | null;
  loaded: boolean;
}

/** useStatus' snapshot. */
export interface StatusState {
  status: SyncStatus;
  lastSynced: Date | null;
  /** "just now" (< 1 minute), "2m ago", "stale" (>= 5 minutes), "never". */
  lastSyncedRelative: string;
  /** lastSynced is 5 minutes old or more (or missing). */
  isStale: boolean;
  /** This tab's writes not acknowledged yet (queued while offline included). */
  pendingCount: number;
  /** Edits waiting in a hook's debounce (useSettingsSync). */
  unsavedCount: number;
  /** What put the status in `error`; null otherwise. */
  error: TidemarkError | null;
}

/** useMutation's result. Every function resolves on the server's ack and rejects (after rollback) on a reject. */
export interface MutationApi {
  put(space: SpaceRef, collection: string, id: string, value: Json, options?: WriteOptions): Promise<WriteResult>;
  patch(space: SpaceRef, collection: string, id: string, mergePatch: Json, options?: WriteOptions): Promise<WriteResult>;
  remove(space: SpaceRef, collection: string, id: string, options?: Pick<WriteOptions, 'ifVersion'>): Promise<WriteResult>;
  delete(space: SpaceRef, collection: string, id: string, options?: Pick<WriteOptions, 'ifVersion'>): Promise<WriteResult>;
  /** Writes of this hook not settled yet. */
  isPending: boolean;
  /** The last rejected write's error (until reset()). */
  error: TidemarkError | null;
  reset(): void;
}

// ── seed 001 ──────────────────────────────────────────────────────────────────

/** Seed 001's SyncEvent, derived from a catalog change. */
export interface CatalogSyncEvent {
  /** `provider_added`, `provider_updated`, `provider_removed`, `provider_status_changed`, `model_added`, `model_updated`, `model_removed`, `model_deprecated`. */
  event_type: string;
  /** `provider` or `model`. */
  entity_type: string;
  entity_id: string;
  version: number | null;
  /** The document after the change, null once removed. */
  data: Json | null;
  previous: Json | null;
}

export interface CatalogCallbacks<M = Json, P = Json> {
  /** A model left `active` (or went from `deprecated` to `sunset`). */
  onModelDeprecated?: (model: M, previous: M | undefined) => void;
  /** A provider's `status` changed. */
  onProviderStatus?: (provider: P, previous: P | undefined) => void;
  /** Every catalog change pushed by the server, as seed 001's SyncEvent. */
  onSyncEvent?: (event: CatalogSyncEvent) => void;
}

export interface ModelAvailability {
  model_id: string;
  model_name: string | null;
  provider_id: string | null;
  is_available: boolean;
  deprecation_status: DeprecationStatus | null;
  deprecation_date: string | null;
  sunset_date: string | null;
  replacement_model_id: string | null;
  replacement_model_name: string | null;
  /** Negative once past; null without a sunset date. */
  days_until_sunset: number | null;
}

export interface ProviderAvailability {
  provider_id: string;
  provider_name: string | null;
  status: ProviderStatus | null;
  enabled: boolean | null;
  is_available: boolean;
  fallback_provider_id: string | null;
  fallback_provider_name: string | null;
  fallback_status: ProviderStatus | null;
}

/** `{data, isLoading, error}` like the seed's React Query hooks. */
export interface QueryLike<T> {
  data: T | null;
  isLoading: boolean;
  error: string | null;
}

// ── seed 002 ──────────────────────────────────────────────────────────────────

export interface DocLocation {
  /** Default `user:me`. */
  space?: string;
  /** Default `settings`. */
  collection?: string;
  /** Default `ui`. */
  id?: string;
}

export type SettingsSyncStatus = 'loading' | 'synced' | 'unsaved' | 'saving' | 'error';

export interface SettingsSyncState {
  status: SettingsSyncStatus;
  isSyncing: boolean;
  hasUnsavedChanges: boolean;
  error: TidemarkError | null;
  lastSaved: Date | null;
}
