// Type declarations for tidemark.js (wire protocol v1).
//
// The wire types below mirror the server's Rust types (src/protocol/wire.rs,
// src/protocol/ws.rs) and the JSON Schemas generated from them into
// proto-schema/; test/schema.test.mjs checks the field names against those
// schemas when they are present.

// ───────────────────────────── wire types ────────────────────────────────────

/** Any JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** What a client already has of a space; `null` in a subscription = nothing. */
export interface Cursor {
  epoch: string;
  version: number;
}

/** One operation of a mutation. `if_version` 0 = "the document never existed". */
export type Op =
  | { op: 'put'; collection: string; id: string; value: Json; if_version?: number }
  | { op: 'patch'; collection: string; id: string; value: Json; if_version?: number }
  | { op: 'delete'; collection: string; id: string; if_version?: number };

/** A client's atomic batch of ops. `client_id` may be omitted in POST /v1/sync (the request's is used). */
export interface Mutation {
  client_id?: string | null;
  mutation_id: number;
  space: string;
  ops: Op[];
}

/** A document as clients see it. `value` is `null` for a deleted or missing document. */
export interface Doc {
  collection: string;
  id: string;
  /** Space version of the document's last change (0: never written). */
  version: number;
  value: Json;
}

/** Which client and mutation produced an event. */
export interface Origin {
  client_id: string;
  mutation_id: number;
}

/** One committed change. An upsert carries the whole value; a delete has `value: null`. */
export interface Event {
  space: string;
  version: number;
  op: 'upsert' | 'delete';
  collection: string;
  id: string;
  value: Json;
  /** Domain event name (`provider_added`, `model_deprecated`, ...). */
  event: string | null;
  origin: Origin | null;
  /** RFC 3339 commit time. */
  at: string;
}

export type RejectCode = 'conflict' | 'forbidden' | 'invalid' | 'too_large' | 'rate_limited' | 'out_of_order' | 'unavailable' | 'store_unavailable';

/** Outcome of one mutation (POST /v1/sync `results`, document endpoints). */
export type MutationResult = MutationAck | MutationReject;

export interface MutationAck {
  status: 'ack';
  mutation_id?: number | null;
  /** Highest version the mutation produced, or the current version with `noop`. */
  version: number;
  noop: boolean;
}

export interface MutationReject {
  status: 'reject';
  mutation_id?: number | null;
  code: RejectCode;
  message: string;
  /** The current document, on `conflict`. */
  current?: Doc | null;
}

/** A catch-up answer (POST /v1/sync `spaces` values; `kind` tags it). */
export type CatchUp = CatchUpSnapshot | CatchUpEvents | CatchUpUpToDate;

export interface CatchUpSnapshot {
  kind: 'snapshot';
  epoch: string;
  version: number;
  /** Live documents only. */
  docs: Doc[];
}

export interface CatchUpEvents {
  kind: 'events';
  epoch: string;
  /** Exclusive. */
  from: number;
  /** Inclusive. */
  to: number;
  events: Event[];
}

export interface CatchUpUpToDate {
  kind: 'up_to_date';
  epoch: string;
  version: number;
}

/** `POST /v1/sync` request. */
export interface SyncRequest {
  client_id: string;
  cursors?: { [space: string]: Cursor | null };
  mutations?: Mutation[];
}

/** `POST /v1/sync` response; `spaces` is keyed by the real space name. */
export interface SyncResponse {
  results: MutationResult[];
  spaces: { [space: string]: CatchUp };
}

/** `GET /v1/spaces/{space}/version`. */
export interface VersionInfo {
  space: string;
  epoch: string;
  version: number;
}

/** `GET /v1/spaces/{space}/state`. */
export interface SpaceState {
  space: string;
  epoch: string;
  version: number;
  docs: Doc[];
}

/** Every HTTP error body. */
export interface ErrorBody {
  error: ErrorDetail;
  /** On a conflict: the document as it is now. */
  current?: Doc | null;
}

export interface ErrorDetail {
  code: string;
  message: string;
  /** On `invalid` from the seed-compatible routes: the offending field. */
  field?: string | null;
}

// WebSocket frames, client -> server

export interface HelloMsg {
  type: 'hello';
  protocol: 1;
  client_id: string;
  /** Spaces to (re)subscribe with their cursors; a later hello may add spaces. */
  subscribe?: { [space: string]: Cursor | null };
}
export interface AuthMsg {
  type: 'auth';
  token: string;
}
export interface MutateMsg {
  type: 'mutate';
  mutation_id: number;
  space: string;
  ops: Op[];
}
export interface PingMsg {
  type: 'ping';
  nonce?: Json;
}
export type ClientMsg = HelloMsg | AuthMsg | MutateMsg | PingMsg;

// WebSocket frames, server -> client (SSE events carry the same JSON, named by `type`)

export interface WsLimits {
  max_frame_bytes: number;
}
export interface WelcomeMsg {
  type: 'welcome';
  session: string;
  heartbeat_ms: number;
  limits: WsLimits;
}
export interface SnapshotMsg {
  type: 'snapshot';
  space: string;
  epoch: string;
  version: number;
  docs: Doc[];
}
export interface EventsMsg {
  type: 'events';
  space: string;
  epoch: string;
  from: number;
  to: number;
  events: Event[];
}
export interface UpToDateMsg {
  type: 'up_to_date';
  space: string;
  epoch: string;
  version: number;
}
/** A live event: the event's fields with `type: "event"` (no epoch). */
export interface EventMsg extends Event {
  type: 'event';
}
export interface AckMsg {
  type: 'ack';
  mutation_id: number;
  space: string;
  version: number;
  noop: boolean;
}
export interface RejectMsg {
  type: 'reject';
  mutation_id: number;
  space: string;
  code: RejectCode;
  message: string;
  current?: Doc | null;
}
export interface PongMsg {
  type: 'pong';
  nonce: Json;
}
export interface ErrorMsg {
  type: 'error';
  code: string;
  message: string;
  space?: string | null;
}
/** Removed from this team space: its subscription ended (after the removing event). */
export interface RevokedMsg {
  type: 'revoked';
  space: string;
}
export type ServerMsg = WelcomeMsg | SnapshotMsg | EventsMsg | UpToDateMsg | EventMsg | AckMsg | RejectMsg | PongMsg | ErrorMsg | RevokedMsg;

// ───────────────────────────── client surface ────────────────────────────────

export type SyncStatus = 'connecting' | 'synced' | 'syncing' | 'stale' | 'error' | 'disconnected';
export type Transport = 'websocket' | 'sse' | 'poll';

/** Storage the client caches in (localStorage by default). */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Injected globals, for tests and non-browser hosts. */
export interface TidemarkEnv {
  now?: () => number;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
  random?: () => number;
  WebSocket?: unknown;
  EventSource?: unknown;
  fetch?: typeof fetch;
  BroadcastChannel?: unknown;
  locks?: unknown;
  window?: unknown;
}

export interface TidemarkOptions {
  /** Server base URL (http(s) or ws(s)); default: the page's origin. */
  url?: string;
  /** A bearer token, or an async function returning one (called again before `exp` and on close code 4001). */
  token: string | (() => string | Promise<string>);
  /** A fixed client id. By default each tab takes a free client id of its user from storage (counter and queue included). */
  clientId?: string;
  /** Where documents, cursors and queued writes are kept; default localStorage; `null` = memory only. */
  storage?: StorageLike | null;
  /** Age after which data is stale (default 300000 = 5 minutes, seed 000). */
  staleAfterMs?: number;
  /** Transports to use, in order (default all three). */
  transports?: Transport[];
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Consecutive failures before falling back to the next transport (default 3). */
  fallbackAfter?: number;
  /** Client heartbeat: a `ping` frame this often on the WebSocket; also SSE's `/version` liveness check (default 25000, seed 001's heartbeatInterval). */
  pingIntervalMs?: number;
  /** No frame at all this long after a ping: the connection is dead and replaced (default 10000; keep it below `pingIntervalMs`). */
  pongTimeoutMs?: number;
  /**
   * Version polling while on the WebSocket: each open space's `/version` this often; a space the server is
   * ahead of (higher version or another epoch) is resubscribed from its cursor (default 30000, seed 001's
   * pollingInterval; `0` = off). SSE's liveness check and long-polling already compare versions.
   */
  versionCheckMs?: number;
  connectTimeoutMs?: number;
  stableAfterMs?: number;
  longPollWaitS?: number;
  leaseTtlMs?: number;
  leaseRenewMs?: number;
  tokenRefreshMarginMs?: number;
  maxOpsPerMutation?: number;
  maxMutationsPerRequest?: number;
  maxInflight?: number;
  maxRetries?: number;
  saveDelayMs?: number;
  syncTimeoutMs?: number;
  env?: TidemarkEnv;
}

export interface WriteOptions {
  /** The write applies only if the document is at this version (0: absent); else it is rejected with `conflict`. */
  ifVersion?: number;
  /** Fold quick successive writes of the same document into one mutation sent this long after the last one. */
  debounceMs?: number;
}

/** What a write's promise resolves to. */
export interface WriteResult {
  version: number;
  noop: boolean;
  mutationId: number;
}

/** A document as the view holds it; `pending` while it includes unacknowledged writes. */
export interface ViewDoc extends Doc {
  pending?: true;
}

export interface DocChange {
  collection: string;
  id: string;
  /** The new value; undefined when the document is gone. */
  value: Json | undefined;
  previous: Json | undefined;
  version: number | undefined;
  pending: boolean;
}

export interface ChangeEvent {
  space: string;
  /** local: this tab's write; server: server state; tab: another tab; rollback: a rejected write undone; cache: loaded from storage. */
  source: 'local' | 'server' | 'tab' | 'rollback' | 'cache';
  changes: DocChange[];
}

export interface StatusDetail {
  transport: Transport;
  lastSynced: Date | null;
  error: TidemarkError | null;
}

export declare class TidemarkError extends Error {
  constructor(code: string, message?: string, extra?: object);
  /** A reject code (`conflict`, ...), or `invalid`, `closed`, `unauthorized`, `forbidden`, `network`, `timeout`, `http_NNN`. */
  code: string;
  /** The server's current document, on `conflict`. */
  current?: Doc | null;
  mutationId?: number;
  space?: string;
  status?: number;
  /** On `closed`: the write stays queued and is sent by the next client of this user. */
  queued?: boolean;
}

export declare class Space {
  /** The real space name (`user:alice` for `user:me`). */
  readonly name: string;
  readonly cursor: Cursor | null;
  readonly epoch: string | null;
  readonly version: number;
  error: TidemarkError | null;
  /** A copy of the document's value, or undefined. */
  get(collection: string, id: string): Json | undefined;
  /** The document with its version (for `ifVersion`), or undefined. */
  doc(collection: string, id: string): ViewDoc | undefined;
  /** A collection's documents, sorted by id. */
  list(collection: string): ViewDoc[];
  on(type: 'change', fn: (event: ChangeEvent) => void): () => void;
  off(type: 'change', fn: (event: ChangeEvent) => void): void;
  put(collection: string, id: string, value: Json, options?: WriteOptions): Promise<WriteResult>;
  patch(collection: string, id: string, mergePatch: Json, options?: WriteOptions): Promise<WriteResult>;
  delete(collection: string, id: string, options?: Pick<WriteOptions, 'ifVersion'>): Promise<WriteResult>;
}

export declare class TidemarkClient {
  constructor(options: TidemarkOptions);
  readonly status: SyncStatus;
  readonly transport: Transport;
  /** The token's `sub`. */
  readonly user: string | null;
  /** The client id this tab writes with. */
  readonly clientId: string | null;
  readonly error: TidemarkError | null;
  /** When every open space was last confirmed current. */
  readonly lastSynced: Date | null;
  /** This tab's writes not yet acknowledged. */
  readonly pendingCount: number;
  space(name: string): Space;
  isStale(now?: number): boolean;
  /** "just now" (< 1 min), "2m ago" (< staleAfterMs), "stale", or "never". */
  lastSyncedRelative(now?: number): string;
  on(type: 'status', fn: (status: SyncStatus, detail: StatusDetail) => void): () => void;
  on(type: 'error', fn: (error: TidemarkError) => void): () => void;
  off(type: 'status' | 'error', fn: (...args: any[]) => void): void;
  /** Pulls the latest state now; resolves once every space is current. */
  forceSync(): Promise<void>;
  /** Closes connections; queued writes stay in storage. */
  close(): void;
}

export default TidemarkClient;

// ───────────────────────────── pure helpers ──────────────────────────────────

export declare const PROTOCOL: 1;
export declare const SUBPROTOCOL: 'tidemark.v1';
export declare const TRANSPORTS: readonly Transport[];
export declare const DEFAULTS: Readonly<Required<Omit<TidemarkOptions, 'url' | 'token' | 'clientId' | 'storage' | 'transports' | 'env'>>>;

/** In-memory space state used by the catch-up functions. */
export interface SpaceStateMap {
  epoch: string | null;
  version: number;
  docs: Map<string, Doc>;
}

export interface CatchUpResult {
  status: 'applied' | 'current' | 'duplicate' | 'stale' | 'gap';
  changed: string[];
  events: Event[];
  epochChanged: boolean;
  reset: boolean;
}

export interface QueueEntry {
  clientId: string;
  mutationId: number;
  space: string;
  ops: Op[];
  createdAt: number;
  notBefore: number;
  debounce: boolean;
  sent: boolean;
  attempts: number;
  retryAt: number;
  ackVersion: number | null;
}

export declare class MutationQueue {
  constructor(init?: { clientId?: string; nextId?: number; entries?: QueueEntry[]; maxOps?: number });
  clientId: string;
  nextId: number;
  entries: QueueEntry[];
  readonly pending: QueueEntry[];
  enqueue(args: { space: string; op: Op; debounceMs?: number; now?: number }): { entry: QueueEntry; coalesced: boolean };
  sendable(now?: number): QueueEntry[];
  nextWakeAt(): number | null;
  get(mutationId: number): QueueEntry | undefined;
  remove(mutationId: number): QueueEntry | null;
  flushDebounce(now?: number): void;
  renumber(clientId: string, startId?: number): { oldId: number; entry: QueueEntry }[];
  toJSON(): { nextId: number; entries: QueueEntry[] };
}

export declare class MemoryStorage implements StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
  readonly length: number;
  key(i: number): string | null;
  clear(): void;
}

export declare function backoffDelay(attempt: number, options?: { baseMs?: number; maxMs?: number; random?: () => number }): number;
export declare function isStale(lastSynced: Date | number | string | null | undefined, now?: number, staleAfterMs?: number): boolean;
export declare function relativeTime(lastSynced: Date | number | string | null | undefined, now?: number, staleAfterMs?: number): string;
export declare function mergePatch(target: Json | undefined, patch: Json): Json;
export declare function composePatches(first: Json, second: Json): Json | undefined;
export declare function coalesceOp(prev: Op, next: Op): Op | null;
export declare function applyOp(value: Json | undefined, op: Op): Json | undefined;
export declare function rebaseDoc(base: Doc | null | undefined, ops: Op[] | undefined): ViewDoc | null;
export declare function rebase(docs: Map<string, Doc>, pending: { ops: Op[] }[]): Map<string, ViewDoc>;
export declare function emptyState(): SpaceStateMap;
export declare function applyEvent(state: SpaceStateMap, event: Event): 'applied' | 'duplicate' | 'gap';
export declare function applyCatchUp(
  state: SpaceStateMap,
  answer: CatchUp | SnapshotMsg | EventsMsg | UpToDateMsg | EventMsg,
  options?: { force?: boolean },
): CatchUpResult;
export declare function formatCursor(cursor: Cursor | null): string;
export declare function parseCursor(s: string): Cursor | null;
export declare function decodeJwt(token: string): { [claim: string]: Json } | null;
export declare function validateOp(op: Op): string | null;
export declare function baseUrls(url: string): { http: string; ws: string };
export declare function clone<T>(v: T): T;
export declare function deepEqual(a: unknown, b: unknown): boolean;
export declare function docKey(collection: string, id: string): string;
export declare function splitKey(key: string): { collection: string; id: string };

// BEGIN domain types (generated by gen-domain-types.py)
// Domain documents and lockbox/model-config HTTP bodies (design.md §5).
export interface ConversationDoc {
  /** As the client sent it (RFC 3339 string or epoch milliseconds). */
  created_at?: Json;
  metadata?: Record<string, Json> | null;
  model?: string | null;
  title?: string | null;
  updated_at?: Json;
}

export type KeySource = "lockbox" | "env";

export type Provider = "openai" | "anthropic" | "openrouter";

export interface LockboxEntry {
  /** A key is available for this provider (the user's or the server's). */
  configured: boolean;
  /** Last four characters of the user's key; always `null` for `env`. */
  last4?: string | null;
  provider: Provider;
  /** `lockbox` when the user's key is used (or none is configured), `env` */
  source: KeySource;
  /** When this view last changed, RFC 3339 UTC. */
  updated_at: string;
  /** On `PUT ?validate=true`: the provider accepted the key. */
  validated?: boolean | null;
}

export interface LockboxList {
  /** Every provider, configured or not, in a stable order. */
  providers: Array<LockboxEntry>;
}

export type CheckedKey = "request" | "lockbox";

export interface ValidateResponse {
  /** Which key was checked: the one in the request (`request`) or the */
  checked: CheckedKey;
  provider: Provider;
  valid: boolean;
}

export interface Fallback {
  /** What was asked for (a provider or model id), when there was one. */
  from?: string | null;
  kind: FallbackKind;
  /** In words, for logs and people. */
  reason: string;
  /** What is used instead. */
  to?: string | null;
}

export type FallbackKind = "no_preferred_provider" | "provider_unavailable" | "default_model" | "model_not_in_catalog" | "env_key" | "system_provider";

export interface ResolvedModelConfig {
  /** The key to call it with, in plaintext. */
  api_key: string;
  /** Every fallback taken, in order; empty when the user's choice stood. */
  fallbacks: Array<Fallback>;
  /** With `source: lockbox`: which of the user's keys this is (it changes */
  key_version?: string | null;
  /** The model to ask for, after any fallback. */
  model: string;
  /** The provider to call, after any fallback. */
  provider: Provider;
  source: KeySource;
  user: string;
}

export interface LockboxDoc {
  /** A key is available for this provider (the user's or the server's). */
  configured: boolean;
  /** Last four characters of the user's key; always `null` for `env`. */
  last4?: string | null;
  /** `lockbox` when the user's key is used (or none is configured), `env` */
  source: KeySource;
  /** When this view last changed, RFC 3339 UTC. */
  updated_at: string;
}

export type ChatRole = "user" | "assistant" | "system";

export interface MessageDoc {
  content: string;
  conversation_id: string;
  metadata?: Record<string, Json> | null;
  model?: string | null;
  role: ChatRole;
  /** As the client sent it (RFC 3339 string or epoch milliseconds). */
  timestamp?: Json;
  tokens?: number | null;
}

export interface ModelConfigDoc {
  /** Provider id -> model id, both from the catalog (`models/{id}` whose */
  models?: Record<string, string>;
  /** A catalog provider id (`openai`, `anthropic`, `openrouter`, ...), or */
  preferred_provider?: string | null;
  /** Free for clients to set, RFC 3339. */
  updated_at?: string | null;
}

export type DeprecationStatus = "active" | "deprecated" | "sunset";

export interface ModelDoc {
  context_window: number;
  /** `2026-12-01` (or an RFC 3339 time). */
  deprecation_date?: string | null;
  deprecation_status: DeprecationStatus;
  /** One line for people (seed 004's `description`). */
  description?: string | null;
  /** Equal to the document id, exactly as the provider names it. */
  id: string;
  max_input_tokens: number;
  max_output_tokens: number;
  name: string;
  provider_id: string;
  replacement_model_id?: string | null;
  sunset_date?: string | null;
  supports_streaming: boolean;
  supports_vision: boolean;
}

export interface ModelPreference {
  enabled_models: Array<string>;
  is_enabled: boolean;
  /** RFC 3339 time of the last change, set by `PUT /api/user/model-preferences`. */
  last_updated?: string | null;
}

export type ProviderStatus = "available" | "degraded" | "unavailable" | "unknown" | "unreachable";

export interface ProviderDoc {
  /** Model used when a requested one is unknown. */
  default_model_id?: string | null;
  display_name: string;
  enabled: boolean;
  /** Provider to suggest while this one is unavailable. */
  fallback_provider_id?: string | null;
  /** Probed by the server's health task; its answer sets `status`. */
  health_url?: string | null;
  /** Equal to the document id. */
  id: string;
  status: ProviderStatus;
}

export type Theme = "light" | "dark" | "system";

export interface UiSettings {
  /** A BCP 47 language tag (`en`, `pt-BR`, `zh-Hant-TW`). */
  language?: string | null;
  /** Free-form settings of the application. */
  preferences?: Record<string, Json> | null;
  theme?: Theme | null;
}

export interface UsageDay {
  date: string;
  /** Messages with role `assistant`. */
  messages_received: number;
  /** Messages with role `user`. */
  messages_sent: number;
  tokens: number;
}

/** proto-schema file -> type, for the schema test. */
export type DomainSchemaFiles = {"conversation-doc.json": "ConversationDoc", "http-lockbox-entry.json": "LockboxEntry", "http-lockbox-list.json": "LockboxList", "http-lockbox-validate.json": "ValidateResponse", "http-model-config-resolved.json": "ResolvedModelConfig", "lockbox-doc.json": "LockboxDoc", "message-doc.json": "MessageDoc", "model-config-doc.json": "ModelConfigDoc", "model-doc.json": "ModelDoc", "model-preference-doc.json": "ModelPreference", "provider-doc.json": "ProviderDoc", "settings-ui-doc.json": "UiSettings", "usage-day-doc.json": "UsageDay"};
// END domain types
