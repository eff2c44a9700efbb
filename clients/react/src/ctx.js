// The React context holding the app's tidemark client.
import { createContext, useContext } from 'react';
import { storeFor } from './store.js';

export const TidemarkContext = createContext(null);

/** The client of the nearest TidemarkProvider. */
export function useTidemarkClient() {
  const client = useContext(TidemarkContext);
  if (!client) throw new Error('tidemark-react: wrap your app in <TidemarkProvider> (or <ProviderSyncProvider>)');
  return client;
}

/** The shared store of the nearest provider's client (internal to the hooks, exported for adapters). */
export function useTidemarkStore() {
  return storeFor(useTidemarkClient());
}
