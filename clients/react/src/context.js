// TidemarkProvider: one client per app, handed to every hook through context.
import { createElement, useEffect, useRef, useState } from 'react';
import { TidemarkClient } from 'tidemark-client';
import { TidemarkContext } from './ctx.js';
import { useCatalogEventsOf } from './events.js';

const PROVIDER_PROPS = new Set(['client', 'children', 'onModelDeprecated', 'onProviderStatus', 'onSyncEvent', 'config']);

// Seed 001's ProviderSyncConfig names -> the client's options.
const SEED_CONFIG = {
  pollingInterval: 'versionCheckMs',
  heartbeatInterval: 'pingIntervalMs',
  reconnectBaseDelay: 'backoffBaseMs',
  reconnectMaxDelay: 'backoffMaxMs',
  syncTimeout: 'syncTimeoutMs',
  cacheTtl: 'staleAfterMs',
};
const SEED_ONLY = new Set(['apiBaseUrl', 'wsUrl', 'enableWebSocket', 'maxReconnectAttempts', 'includeDeprecated', 'enableCache']);

function optionsOf(props) {
  const all = { ...(props.config || {}) };
  for (const [k, v] of Object.entries(props)) if (!PROVIDER_PROPS.has(k)) all[k] = v;
  const opts = {};
  for (const [k, v] of Object.entries(all)) {
    if (SEED_CONFIG[k]) opts[SEED_CONFIG[k]] ??= v;
    else if (!SEED_ONLY.has(k)) opts[k] = v;
  }
  if (all.enableWebSocket === false && !opts.transports) opts.transports = ['sse', 'poll'];
  if (all.enableCache === false && opts.storage === undefined) opts.storage = null;
  return opts;
}

/**
 * Provides a tidemark client to the hooks below it. Either pass `client` (a
 * TidemarkClient you made and close yourself) or the client's constructor
 * options as props (`url`, `token`, `storage`, ...; or all of them as
 * `config`, where seed 001's ProviderSyncConfig names are understood too:
 * `pollingInterval`, `heartbeatInterval`, `reconnectBaseDelay`,
 * `reconnectMaxDelay`, `syncTimeout`, `cacheTtl`, `enableWebSocket`,
 * `enableCache`): the provider then makes the client once and closes it when
 * it unmounts. `onModelDeprecated`, `onProviderStatus` and `onSyncEvent`
 * subscribe to seed 001's catalog events for the whole app.
 */
export function TidemarkProvider(props) {
  const { client: given, children } = props;
  const owned = useRef(null);
  const mounted = useRef(false);
  const [, setGeneration] = useState(0);
  if (!given && owned.current === null) owned.current = new TidemarkClient(optionsOf(props));
  const client = given || owned.current;

  useEffect(() => {
    if (given) return undefined;
    mounted.current = true;
    // Shown again after a real unmount of its effects (e.g. a hidden <Activity>): make a new client.
    if (owned.current && owned.current._closed) {
      owned.current = new TidemarkClient(optionsOf(props));
      setGeneration((g) => g + 1);
    }
    const mine = owned.current;
    return () => {
      mounted.current = false;
      // StrictMode unmounts and mounts again at once: close only if it stays unmounted.
      Promise.resolve().then(() => {
        if (!mounted.current && owned.current === mine) mine.close();
      });
    };
    // The options are read once, like useState's initial value.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [given]);

  useCatalogEventsOf(client, props, !!(props.onModelDeprecated || props.onProviderStatus || props.onSyncEvent));
  return createElement(TidemarkContext.Provider, { value: client }, children);
}

/** Seed 001's name for the provider. */
export const ProviderSyncProvider = TidemarkProvider;
