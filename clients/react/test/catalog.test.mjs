// Seed 001's hooks over the catalog space.
import test from 'node:test';
import assert from 'node:assert/strict';
import { world, probe, h } from './setup.mjs';
import {
  ProviderSyncProvider,
  useProviderSync,
  useProviders,
  useModels,
  useModel,
  useModelAvailability,
  useSyncStatus,
  catalogEventName,
  useSyncState,
  useProvider,
  useModelsFromState,
  useSyncWebSocket,
  useTidemarkClient,
} from '../src/index.js';
import { act } from 'react';
import { create } from 'react-test-renderer';

const put = (collection, value) => ({ op: 'put', collection, id: value.id, value });
const model = (id, provider_id, extra = {}) => ({ id, name: id.toUpperCase(), provider_id, context_window: 8192, max_input_tokens: 8192, max_output_tokens: 4096, supports_streaming: true, supports_vision: false, deprecation_status: 'active', ...extra });

function seedCatalog(server) {
  server.write('admin', 'catalog', [
    put('providers', { id: 'openai', display_name: 'OpenAI', enabled: true, status: 'available', fallback_provider_id: 'anthropic' }),
    put('providers', { id: 'anthropic', display_name: 'Anthropic', enabled: true, status: 'available' }),
    put('providers', { id: 'openrouter', display_name: 'OpenRouter', enabled: false, status: 'available' }),
    put('models', model('gpt-4o', 'openai')),
    put('models', model('gpt-3.5', 'openai', { deprecation_status: 'deprecated', sunset_date: '2023-11-24', replacement_model_id: 'gpt-4o' })),
    put('models', model('claude', 'anthropic')),
  ]);
}

test('useProviderSync, useProviders, useModels, useModel, useModelAvailability, useSyncStatus', async () => {
  const w = world();
  seedCatalog(w.server);
  const all = probe(() => useProviderSync());
  const enabled = probe(() => useProviders({ enabledOnly: true }));
  const openai = probe(() => useModels({ providerId: 'openai' }));
  const withOld = probe(() => useModels({ providerId: 'openai', includeDeprecated: true }));
  const one = probe(() => useModel('gpt-3.5'));
  const avail = probe(() => useModelAvailability('gpt-3.5'));
  const sync = probe(() => useSyncStatus());
  await w.render(h('div', null, all.element, enabled.element, openai.element, withOld.element, one.element, avail.element, sync.element));
  assert.equal(all.current.isLoading, true);
  assert.equal(all.current.isConnected, false);
  await w.advance();
  assert.equal(all.current.isLoading, false);
  assert.equal(all.current.isConnected, true);
  assert.equal(all.current.error, null);
  assert.equal(all.current.providers.length, 3);
  assert.equal(all.current.models.length, 3);
  assert.deepEqual(
    enabled.current.map((p) => p.id),
    ['anthropic', 'openai'],
  );
  assert.deepEqual(
    openai.current.map((m) => m.id),
    ['gpt-4o'],
    'deprecated models only when asked for',
  );
  assert.deepEqual(
    withOld.current.map((m) => m.id),
    ['gpt-3.5', 'gpt-4o'],
  );
  assert.equal(one.current.model.replacement_model_id, 'gpt-4o');
  // The fake clock starts 2023-11-14T22:13:20Z: ten days before the sunset date.
  assert.equal(avail.current.data.replacement_model_name, 'GPT-4O');
  assert.equal(avail.current.data.days_until_sunset, 10);
  assert.equal(avail.current.data.is_available, true);
  assert.deepEqual(sync.current.isSynced, true);
  assert.deepEqual(sync.current.hasError, false);

  // forceSync resolves once the catalog is current again.
  await w.act(() => all.current.forceSync());
  await w.done();
});

test('onModelDeprecated and onProviderStatus fire on pushes, detected from previous and new values', async () => {
  const w = world();
  seedCatalog(w.server);
  const deprecated = [];
  const statuses = [];
  const events = [];
  const p = probe(() => useProviderSync());
  let root;
  await act(async () => {
    root = create(
      h(
        ProviderSyncProvider,
        {
          client: w.client,
          onModelDeprecated: (m) => deprecated.push(m.id),
          onProviderStatus: (pr) => statuses.push(`${pr.id}:${pr.status}`),
          onSyncEvent: (e) => events.push(`${e.event_type}:${e.entity_id}`),
        },
        p.element,
      ),
    );
  });
  await w.advance();
  assert.deepEqual(deprecated, []);
  events.length = 0;

  await w.act(() =>
    w.server.write('admin', 'catalog', [put('models', model('gpt-4o', 'openai', { deprecation_status: 'deprecated', replacement_model_id: 'claude' }))]),
  );
  assert.deepEqual(deprecated, ['gpt-4o']);
  await w.act(() =>
    w.server.write('admin', 'catalog', [put('providers', { id: 'openai', display_name: 'OpenAI', enabled: true, status: 'degraded', fallback_provider_id: 'anthropic' })]),
  );
  assert.deepEqual(statuses, ['openai:degraded']);
  // A change that is neither: no callback, but a seed SyncEvent.
  await w.act(() => w.server.write('admin', 'catalog', [put('providers', { id: 'anthropic', display_name: 'Anthropic AI', enabled: true, status: 'available' })]));
  assert.deepEqual(events, ['model_deprecated:gpt-4o', 'provider_status_changed:openai', 'provider_updated:anthropic']);
  assert.deepEqual(statuses, ['openai:degraded']);
  assert.equal(p.current.models.find((m) => m.id === 'gpt-4o').deprecation_status, 'deprecated');

  await act(async () => root.unmount());
  assert.equal(w.client.space('catalog')._handlers.size, 0, 'callbacks unsubscribed');
  await w.done();
});

test('catalogEventName follows the server rule', () => {
  assert.equal(catalogEventName('models', { deprecation_status: 'deprecated' }, { deprecation_status: 'sunset' }), 'model_deprecated');
  assert.equal(catalogEventName('models', { deprecation_status: 'deprecated' }, { deprecation_status: 'active' }), 'model_updated');
  assert.equal(catalogEventName('models', undefined, { deprecation_status: 'deprecated' }), 'model_added');
  assert.equal(catalogEventName('providers', { status: 'available', enabled: true }, { status: 'available', enabled: false }), 'provider_updated');
  assert.equal(catalogEventName('providers', { status: 'available' }, undefined), 'provider_removed');
  assert.equal(catalogEventName('settings', {}, {}), null);
});

test("seed 001's React Query hook names and ProviderSyncConfig names", async () => {
  const w = world();
  seedCatalog(w.server);
  const events = [];
  const state = probe(() => useSyncState());
  const one = probe(() => useProvider('openai'));
  const fromState = probe(() => useModelsFromState({ providerId: 'openai' }));
  const current = probe(() => useModelsFromState({ providerId: 'openai', excludeDeprecated: true }));
  const ws = probe(() => useSyncWebSocket({ onEvent: (e) => events.push(e.event_type) }));
  await w.render(h('div', null, state.element, one.element, fromState.element, current.element, ws.element));
  await w.advance();
  assert.equal(state.current.data.all_models.length, 3);
  assert.equal(state.current.data.metadata.version, 6);
  assert.equal(one.current.provider.fallback_provider_id, 'anthropic');
  assert.equal(fromState.current.models.length, 2, 'the seed includes deprecated models unless excluded');
  assert.equal(current.current.models.length, 1);
  assert.equal(ws.current.isConnected, true);
  await w.act(() => w.server.write('admin', 'catalog', [put('models', model('o1', 'openai'))]));
  assert.deepEqual(events.slice(-1), ['model_added']);
  await w.done();

  // The provider understands seed 001's config names.
  const c = probe(() => useTidemarkClient());
  let root;
  await act(async () => {
    root = create(h(ProviderSyncProvider, { config: { token: w.client._opt.token, url: 'http://tidemark.test', storage: null, env: w.client._opt.env, pollingInterval: 0, heartbeatInterval: 20_000, cacheTtl: 60_000, enableWebSocket: false, apiBaseUrl: '/api/provider-sync' } }, c.element));
  });
  const opt = c.current._opt;
  assert.deepEqual([opt.versionCheckMs, opt.pingIntervalMs, opt.staleAfterMs, opt.transports, opt.apiBaseUrl], [0, 20_000, 60_000, ['sse', 'poll'], undefined]);
  await act(async () => root.unmount());
});
