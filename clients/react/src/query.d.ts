// Type declarations for tidemark-react/query (hand-written).
import type { QueryClient, UseQueryOptions, UseQueryResult } from '@tanstack/react-query';
import type { TidemarkClient, Json } from 'tidemark-client';

export declare const QUERY_ROOT: 'tidemark';

/** ['tidemark', space], ['tidemark', space, collection] or ['tidemark', space, collection, id]. */
export declare function tidemarkKey(space: string, collection?: string, id?: string): string[];

/** useQuery options reading a collection's values (no id) or a document's value (null when absent) from the client. */
export declare function tidemarkQueryOptions<T = Json>(
  client: TidemarkClient,
  space: string,
  collection: string,
  id?: string,
): { queryKey: string[]; queryFn: () => T; staleTime: number };

export interface QuerySyncOptions {
  /** Spaces mirrored into the cache (default ['catalog', 'user:me']). */
  spaces?: string[];
}

/** setQueryData on every change of `spaces`; invalidateQueries(['tidemark', space]) when synced again after being offline. Returns stop(). */
export declare function syncQueryClient(queryClient: QueryClient, client: TidemarkClient, options?: QuerySyncOptions): () => void;

/** syncQueryClient for the provider's client while mounted (queryClient: default the QueryClientProvider's). */
export declare function useTidemarkQuerySync(options?: QuerySyncOptions & { queryClient?: QueryClient }): void;

/** useQuery of a collection (`id` omitted: T is the element type, data is T[]) or of a document (data: T | null). */
export declare function useTidemarkQuery<T = Json>(
  space: string,
  collection: string,
  id: string,
  options?: Omit<UseQueryOptions<T | null, Error, T | null, string[]>, 'queryKey' | 'queryFn'>,
): UseQueryResult<T | null, Error>;
export declare function useTidemarkQuery<T = Json>(
  space: string,
  collection: string,
  id?: undefined,
  options?: Omit<UseQueryOptions<T[], Error, T[], string[]>, 'queryKey' | 'queryFn'>,
): UseQueryResult<T[], Error>;
