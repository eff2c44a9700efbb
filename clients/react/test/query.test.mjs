// tidemark-react/query: a TanStack Query cache kept current from pushes.
import test from 'node:test';
import assert from 'node:assert/strict';
import { QueryClient, QueryClientProvider, notifyManager } from '@tanstack/react-query';
import { world, probe, h } from './setup.mjs';
import { syncQueryClient, tidemarkKey, useTidemarkQuery, useTidemarkQuerySync } from '../src/query.js';

// TanStack batches notifications on a real setTimeout(0); run them inside act() instead.
notifyManager.setScheduler((fn) => setImmediate(fn));

const put = (collection, id, value) => ({ op: 'put', collection, id, value });

function spy(qc) {
  const calls = { set: [], invalidate: [] };
  const set = qc.setQueryData.bind(qc);
  const inv = qc.invalidateQueries.bind(qc);
  qc.setQueryData = (key, v) => {
    calls.set.push(key);
    return set(key, v);
  };
  qc.invalidateQueries = (f) => {
    calls.invalidate.push(f.queryKey);
    return inv(f);
  };
  return calls;
}

test('syncQueryClient: setQueryData on every change, invalidateQueries on resync', async () => {
  const w = world();
  const qc = new QueryClient();
  const calls = spy(qc);
  const stop = syncQueryClient(qc, w.client, { spaces: ['catalog'] });
  await w.advance();
  calls.invalidate.length = 0;
  await w.act(() => w.server.write('admin', 'catalog', [put('providers', 'openai', { id: 'openai', status: 'available', enabled: true })]));
  assert.deepEqual(calls.set, [tidemarkKey('catalog', 'providers', 'openai'), tidemarkKey('catalog', 'providers')]);
  assert.deepEqual(qc.getQueryData(['tidemark', 'catalog', 'providers', 'openai']), { id: 'openai', status: 'available', enabled: true });
  assert.deepEqual(qc.getQueryData(['tidemark', 'catalog', 'providers']), [{ id: 'openai', status: 'available', enabled: true }]);

  await w.act(() => w.server.write('admin', 'catalog', [{ op: 'delete', collection: 'providers', id: 'openai' }]));
  assert.equal(qc.getQueryData(['tidemark', 'catalog', 'providers', 'openai']), null);
  assert.deepEqual(qc.getQueryData(['tidemark', 'catalog', 'providers']), []);

  await w.offline();
  assert.deepEqual(calls.invalidate, []);
  w.server.wsUp = true;
  w.server.httpUp = true;
  await w.advance(60_000);
  assert.equal(w.client.status, 'synced');
  assert.deepEqual(calls.invalidate, [['tidemark', 'catalog']], 'one invalidation on the resync');

  stop();
  assert.equal(w.client.space('catalog')._handlers.size, 0);
  assert.equal(w.client._handlers.status.size, 0);
  await w.done();
});

test('useTidemarkQuerySync + useTidemarkQuery: a useQuery component follows pushes', async () => {
  const w = world();
  w.server.write('admin', 'catalog', [put('models', 'gpt-4o', { id: 'gpt-4o', deprecation_status: 'active' })]);
  const qc = new QueryClient();
  const p = probe(() => {
    useTidemarkQuerySync({ spaces: ['catalog'] });
    return useTidemarkQuery('catalog', 'models', 'gpt-4o');
  });
  await w.render(h(QueryClientProvider, { client: qc }, p.element));
  await w.advance();
  assert.deepEqual(p.current.data, { id: 'gpt-4o', deprecation_status: 'active' });
  await w.act(() => w.server.write('admin', 'catalog', [put('models', 'gpt-4o', { id: 'gpt-4o', deprecation_status: 'deprecated' })]));
  assert.deepEqual(p.current.data, { id: 'gpt-4o', deprecation_status: 'deprecated' });
  await w.done();
  qc.clear();
});
