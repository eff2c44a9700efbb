// The generic hooks: documents, collections, writes and status, each one a
// useSyncExternalStore subscription to the client's shared store (no tearing:
// every component reads the same snapshot within a render).
import { useCallback, useMemo, useRef, useState, useSyncExternalStore, useEffect } from 'react';
import { useTidemarkClient } from './ctx.js';
import { storeFor } from './store.js';

function nameOf(space) {
  return typeof space === 'string' ? space : space.name;
}

/**
 * The client's Space object for `id` (`user:me`, `catalog`, ...), opened on
 * first use. The component re-renders on every change of the space, so
 * reading `space.get(...)` in render is safe.
 */
export function useSpace(id) {
  const store = storeFor(useTidemarkClient());
  const name = nameOf(id);
  const subscribe = useCallback((fn) => store.subscribeSpace(name, fn), [store, name]);
  const getRev = useCallback(() => store.getRevision(name), [store, name]);
  useSyncExternalStore(subscribe, getRev, getRev);
  return store.space(name);
}

/** One document: `{value, version, pending, error, loaded}`; `value` is undefined while it does not exist. */
export function useDoc(space, collection, id) {
  const store = storeFor(useTidemarkClient());
  const name = nameOf(space);
  const subscribe = useCallback((fn) => store.subscribeSpace(name, fn), [store, name]);
  const get = useCallback(() => store.getDoc(name, collection, id), [store, name, collection, id]);
  return useSyncExternalStore(subscribe, get, get);
}

/** One collection: `{docs, values, byId, pending, error, loaded}`, docs sorted by id. */
export function useCollection(space, collection) {
  const store = storeFor(useTidemarkClient());
  const name = nameOf(space);
  const subscribe = useCallback((fn) => store.subscribeSpace(name, fn), [store, name]);
  const get = useCallback(() => store.getCollection(name, collection), [store, name, collection]);
  return useSyncExternalStore(subscribe, get, get);
}

/**
 * Sync status for badges: `{status, lastSynced, lastSyncedRelative, isStale,
 * pendingCount, unsavedCount, error}`. `lastSyncedRelative` is "just now"
 * under a minute, then "2m ago", "stale" after 5 minutes, "never" before the
 * first sync; the hook re-renders when it would change.
 */
export function useStatus() {
  const store = storeFor(useTidemarkClient());
  const subscribe = useCallback((fn) => store.subscribeStatus(fn), [store]);
  const get = useCallback(() => store.getStatus(), [store]);
  return useSyncExternalStore(subscribe, get, get);
}

/**
 * Writes with their progress: `{put, patch, remove (alias delete), isPending, error, reset}`.
 * Every write applies at once (optimistic) and resolves on the server's ack;
 * a rejected write is rolled back by the client, rejects its promise and sets
 * `error`. `put`/`patch`/`remove` take the space first: `patch('user:me',
 * 'settings', 'ui', {theme: 'dark'})`, and the client's write options last.
 */
/**
 * A ref that is true while the component is mounted: async work that ends
 * after an unmount must not set state (StrictMode's remount sets it again).
 */
export function useAlive() {
  const alive = useRef(false);
  useEffect(() => {
    alive.current = true;
    return () => {
      alive.current = false;
    };
  }, []);
  return alive;
}

export function useMutation() {
  const client = useTidemarkClient();
  const store = storeFor(client);
  const [state, setState] = useState({ inflight: 0, error: null });
  const alive = useAlive();

  const run = useCallback(
    (write) => {
      let p;
      try {
        p = write();
      } catch (e) {
        p = Promise.reject(e);
      }
      setState((s) => ({ ...s, inflight: s.inflight + 1 }));
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
    [store],
  );

  const api = useMemo(
    () => ({
      put: (space, collection, id, value, opts) => run(() => store.space(space).put(collection, id, value, opts)),
      patch: (space, collection, id, mergePatch, opts) => run(() => store.space(space).patch(collection, id, mergePatch, opts)),
      remove: (space, collection, id, opts) => run(() => store.space(space).delete(collection, id, opts)),
      delete: (space, collection, id, opts) => run(() => store.space(space).delete(collection, id, opts)),
      reset: () => setState((s) => ({ ...s, error: null })),
    }),
    [store, run],
  );
  return useMemo(() => ({ ...api, isPending: state.inflight > 0, error: state.error }), [api, state]);
}
