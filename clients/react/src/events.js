// Seed 001's catalog event callbacks (`onModelDeprecated`, `onProviderStatus`,
// `onSyncEvent`) on top of the client's change events.
//
// The client's `change` events carry the document before and after
// (`previous`, `value`) but not the server event's `event` name, so the name
// is derived here with the server's own rule (see util.catalogEventName). If
// a later client passes `change.event` through, that name is used instead.
import { useEffect, useRef } from 'react';
import { useTidemarkClient } from './ctx.js';
import { storeFor } from './store.js';
import { catalogEventName, deepEqual, isRemote } from './util.js';

const ENTITY = { providers: 'provider', models: 'model' };

/** Calls the callbacks for one change event of the `catalog` space. */
export function dispatchCatalogEvent(ev, callbacks) {
  if (!ev || !isRemote(ev.source)) return;
  for (const ch of ev.changes) {
    if (ch.value !== undefined && ch.previous !== undefined && deepEqual(ch.value, ch.previous)) continue; // only `pending` moved
    const name = ch.event || catalogEventName(ch.collection, ch.previous, ch.value);
    if (!name) continue;
    const cb = callbacks || {};
    if (cb.onSyncEvent) {
      cb.onSyncEvent({
        event_type: name,
        entity_type: ENTITY[ch.collection] || ch.collection,
        entity_id: ch.id,
        version: ch.version ?? null,
        data: ch.value === undefined ? null : ch.value,
        previous: ch.previous === undefined ? null : ch.previous,
      });
    }
    if (name === 'model_deprecated' && cb.onModelDeprecated) cb.onModelDeprecated(ch.value, ch.previous);
    if (name === 'provider_status_changed' && cb.onProviderStatus) cb.onProviderStatus(ch.value, ch.previous);
  }
}

/** Subscribes `client`'s catalog to the callbacks while `enabled` (the callbacks may change freely). */
export function useCatalogEventsOf(client, callbacks, enabled = true) {
  const latest = useRef(callbacks);
  latest.current = callbacks;
  useEffect(() => {
    if (!enabled || !client) return undefined;
    return storeFor(client).subscribeSpace('catalog', (ev) => dispatchCatalogEvent(ev, latest.current));
  }, [client, enabled]);
}

/** `useCatalogEvents({onModelDeprecated, onProviderStatus, onSyncEvent})` for one component. */
export function useCatalogEvents(callbacks) {
  useCatalogEventsOf(useTidemarkClient(), callbacks, true);
}
