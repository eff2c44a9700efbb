// Seed 002 (real-time settings): `useRealtimeSettings` and `useSettingsSync`
// over the user's `settings/ui` document and the redacted `lockbox` views.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { mergePatch } from 'tidemark-client';
import { useTidemarkClient } from './ctx.js';
import { storeFor } from './store.js';
import { useDoc } from './hooks.js';
import { clone, deepEqual, diffPatch, isRemote } from './util.js';

const DEFAULT_DOC = { space: 'user:me', collection: 'settings', id: 'ui' };

/** `{[provider]: LockboxDoc}` of a space's `lockbox` collection (redacted: `configured`, `last4`, `source`). */
export function lockboxOf(space) {
  const out = {};
  for (const d of space.list('lockbox')) out[d.id] = d.value;
  return out;
}

function changed(ch) {
  return !(ch.value !== undefined && ch.previous !== undefined && deepEqual(ch.value, ch.previous));
}

/**
 * Calls `onSettingsUpdate(settings)` when `settings/ui` changes from another
 * tab or device (or a rejected write of this tab is rolled back), and
 * `onApiKeysUpdate(keys)` (`{[provider]: {configured, last4, source,
 * updated_at}}`) when a lockbox view changes. Returns the cleanup function
 * (it also runs on unmount).
 */
export function useRealtimeSettings(options = {}) {
  const client = useTidemarkClient();
  const latest = useRef(options);
  latest.current = options;
  const off = useRef(null);
  const { space: name = DEFAULT_DOC.space, collection = DEFAULT_DOC.collection, id = DEFAULT_DOC.id } = options;
  useEffect(() => {
    const store = storeFor(client);
    const space = store.space(name);
    const stop = store.subscribeSpace(name, (ev) => {
      if (!ev || !(isRemote(ev.source) || ev.source === 'rollback')) return;
      const cb = latest.current;
      const mine = ev.changes.filter(changed);
      if (cb.onSettingsUpdate && mine.some((ch) => ch.collection === collection && ch.id === id)) {
        const v = space.get(collection, id);
        cb.onSettingsUpdate(v === undefined ? null : v);
      }
      if (cb.onApiKeysUpdate && mine.some((ch) => ch.collection === 'lockbox')) cb.onApiKeysUpdate(lockboxOf(space));
    });
    off.current = stop;
    return stop;
  }, [client, name, collection, id]);
  return useCallback(() => off.current && off.current(), []);
}

function message(e) {
  return e ? e.message || String(e) : null;
}

/**
 * Keeps an app's settings state and the server's `settings/ui` in step:
 * edits (a new `settings` value) are saved `debounceMs` (1500) after the last
 * one, as a merge patch of what changed; changes from other tabs and devices
 * are passed to `updateSettings(next)` (the whole value, with this tab's
 * unsaved edits kept on top). Returns `{syncState, saveNow, discard}` and the
 * seed's names (`isSyncing`, `hasUnsavedChanges`, `syncError`, `syncSettings`,
 * `forceSyncFromDatabase`).
 */
export function useSettingsSync(settings, updateSettings, options = {}) {
  const client = useTidemarkClient();
  const store = storeFor(client);
  const { space: name = DEFAULT_DOC.space, collection = DEFAULT_DOC.collection, id = DEFAULT_DOC.id } = options;
  const debounceMs = options.debounceMs ?? options.autoSaveDelay ?? 1500;
  const autoSave = options.autoSave !== false;
  const doc = useDoc(name, collection, id);
  const [state, setState] = useState({ inflight: 0, error: null, lastSaved: null, unsaved: false });

  const r = useRef(null);
  // baseline: the server value the app's settings were last equal to (edits = the difference);
  // handed: the settings value seen when updateSettings was last called (not an edit).
  if (r.current === null) r.current = { baseline: undefined, ready: false, timer: null, token: {}, alive: false, handed: undefined };
  const ref = r.current;
  ref.settings = settings;
  ref.update = updateSettings;
  const clock = store.clock;
  const space = store.space(name);

  const setUnsaved = useCallback(
    (flush) => {
      store.setUnsaved(ref.token, flush);
      if (ref.alive) setState((s) => (s.unsaved === !!flush ? s : { ...s, unsaved: !!flush }));
    },
    [store, ref],
  );

  const cancelTimer = useCallback(() => {
    if (ref.timer !== null) clock.clearTimeout(ref.timer);
    ref.timer = null;
  }, [clock, ref]);

  const save = useCallback(() => {
    cancelTimer();
    setUnsaved(null);
    // No document on the server yet: send the whole value, so the app's
    // defaults are stored beside the edit instead of lost when the stored
    // (partial) document is adopted back.
    const absent = space.get(collection, id) === undefined;
    const patch = diffPatch(absent ? {} : (ref.baseline ?? {}), ref.settings ?? {});
    if (!ref.ready || patch === undefined) return Promise.resolve(null);
    ref.baseline = clone(ref.settings);
    setState((s) => ({ ...s, inflight: s.inflight + 1 }));
    const p = space.patch(collection, id, patch);
    p.then(
      (res) => ref.alive && setState((s) => ({ ...s, inflight: s.inflight - 1, error: null, lastSaved: new Date(clock.now()) })),
      (e) => ref.alive && setState((s) => ({ ...s, inflight: s.inflight - 1, error: e })),
    );
    store.notifyStatus();
    return p;
  }, [cancelTimer, setUnsaved, ref, space, collection, id, clock, store]);

  // Server state: adopt it at load, and on every change that is not this tab's own edit.
  useEffect(() => {
    ref.alive = true;
    const hand = (next) => {
      ref.handed = ref.settings;
      ref.update(next);
    };
    const adopt = () => {
      const server = space.get(collection, id);
      if (!ref.ready) {
        if (server === undefined && space.epoch === null) return; // nothing known yet
        ref.ready = true;
        ref.baseline = server === undefined ? clone(ref.settings) : server;
        if (server !== undefined && !deepEqual(server, ref.settings)) hand(server);
        return;
      }
      if (server === undefined) return;
      const unsaved = diffPatch(ref.baseline ?? {}, ref.settings ?? {});
      ref.baseline = server;
      const next = unsaved === undefined ? server : mergePatch(server, unsaved);
      if (!deepEqual(next, ref.settings)) hand(next);
    };
    adopt();
    const stop = store.subscribeSpace(name, (ev) => {
      if (!ev) return adopt(); // status change: maybe the first answer
      if (ev.source === 'local') return;
      if (ev.changes.some((ch) => ch.collection === collection && ch.id === id && changed(ch))) adopt();
    });
    return () => {
      ref.alive = false;
      stop();
      // Leaving with an edit still in its debounce: save it now rather than lose it.
      if (ref.timer !== null) save();
      store.setUnsaved(ref.token, null);
    };
  }, [store, space, name, collection, id, ref, save]);

  // Local edits: a settings value that differs from the server's starts (or restarts) the debounce.
  useEffect(() => {
    if (!ref.ready || settings === ref.handed) return; // not rendered with our update yet
    if (deepEqual(settings, ref.baseline)) {
      cancelTimer();
      setUnsaved(null);
      return;
    }
    if (!autoSave) {
      setUnsaved(save);
      return;
    }
    cancelTimer();
    ref.timer = clock.setTimeout(() => {
      ref.timer = null;
      save();
    }, debounceMs);
    setUnsaved(save);
  }, [settings, autoSave, debounceMs, ref, cancelTimer, setUnsaved, save, clock]);

  const saveNow = save;
  const discard = useCallback(() => {
    cancelTimer();
    setUnsaved(null);
    setState((s) => ({ ...s, error: null }));
    const server = space.get(collection, id);
    const back = server === undefined ? ref.baseline : server;
    ref.baseline = back;
    if (back !== undefined && !deepEqual(back, ref.settings)) {
      ref.handed = ref.settings;
      ref.update(back);
    }
  }, [cancelTimer, setUnsaved, space, collection, id, ref]);
  const forceSyncFromDatabase = useCallback(async () => {
    discard();
    await client.forceSync();
  }, [discard, client]);

  const saving = state.inflight > 0 || doc.pending;
  const status = state.error ? 'error' : state.unsaved ? 'unsaved' : saving ? 'saving' : !doc.loaded ? 'loading' : 'synced';
  const syncState = useMemo(
    () => ({ status, isSyncing: saving, hasUnsavedChanges: state.unsaved, error: state.error, lastSaved: state.lastSaved }),
    [status, saving, state],
  );
  return {
    syncState,
    saveNow,
    discard,
    isSyncing: saving,
    hasUnsavedChanges: state.unsaved,
    syncError: message(state.error),
    syncSettings: saveNow,
    forceSyncFromDatabase,
  };
}
