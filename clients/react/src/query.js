// tidemark-react/query: keeps a TanStack Query cache current from tidemark's
// pushes, for apps whose components read through useQuery (seed 001's React
// Query hooks). Every change is written with setQueryData; after a
// reconnect (a resync) the tidemark queries are invalidated so they re-read.
//
// Keys: ['tidemark', space, collection] holds the collection's values (sorted
// by id), ['tidemark', space, collection, id] one document's value (null when
// absent). `space` is the name the app uses (`user:me`, `catalog`).
import { useEffect } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useTidemarkClient } from './ctx.js';

export const QUERY_ROOT = 'tidemark';

/** The query key of a space, a collection or a document. */
export function tidemarkKey(space, collection, id) {
  const key = [QUERY_ROOT, space];
  if (collection !== undefined) key.push(collection);
  if (collection !== undefined && id !== undefined) key.push(id);
  return key;
}

function read(client, space, collection, id) {
  const s = client.space(space);
  if (id !== undefined) {
    const v = s.get(collection, id);
    return v === undefined ? null : v;
  }
  return s.list(collection).map((d) => d.value);
}

/** `useQuery` options reading from the client (`staleTime: Infinity`: pushes keep it fresh). */
export function tidemarkQueryOptions(client, space, collection, id) {
  return { queryKey: tidemarkKey(space, collection, id), queryFn: () => read(client, space, collection, id), staleTime: Infinity };
}

/**
 * Writes every change of `spaces` into `queryClient` and invalidates their
 * queries when the client is synced again after being offline or in error.
 * Returns the function that stops it.
 */
export function syncQueryClient(queryClient, client, { spaces = ['catalog', 'user:me'] } = {}) {
  const offs = [];
  for (const name of spaces) {
    const space = client.space(name);
    offs.push(
      space.on('change', (ev) => {
        const cols = new Set();
        for (const ch of ev.changes) {
          queryClient.setQueryData(tidemarkKey(name, ch.collection, ch.id), ch.value === undefined ? null : ch.value);
          cols.add(ch.collection);
        }
        for (const col of cols) queryClient.setQueryData(tidemarkKey(name, col), read(client, name, col));
      }),
    );
  }
  let wasLive = client.status === 'synced' || client.status === 'syncing';
  offs.push(
    client.on('status', (status) => {
      const live = status === 'synced' || status === 'syncing';
      if (live && !wasLive) {
        for (const name of spaces) queryClient.invalidateQueries({ queryKey: tidemarkKey(name) });
      }
      wasLive = live;
    }),
  );
  return () => {
    for (const off of offs.splice(0)) off();
  };
}

/** Runs syncQueryClient for the provider's client while the component is mounted. */
export function useTidemarkQuerySync({ spaces = ['catalog', 'user:me'], queryClient } = {}) {
  const client = useTidemarkClient();
  const qc = useQueryClient(queryClient);
  const key = spaces.join('\n');
  useEffect(() => syncQueryClient(qc, client, { spaces: key.split('\n') }), [qc, client, key]);
}

/** `useQuery` of a collection (`id` omitted) or a document, kept current by useTidemarkQuerySync. */
export function useTidemarkQuery(space, collection, id, options = {}) {
  const client = useTidemarkClient();
  return useQuery({ ...tidemarkQueryOptions(client, space, collection, id), ...options });
}
