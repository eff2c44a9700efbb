// Seed 000: useModelPreferences' optimistic writes and rollback.
import test from 'node:test';
import assert from 'node:assert/strict';
import { world, probe } from './setup.mjs';
import { useModelPreferences } from '../src/index.js';

const prefs = (enabled_models, is_enabled = true) => ({ enabled_models, is_enabled, last_updated: '2023-11-01T00:00:00.000Z' });

/** Makes the fake server refuse the next mutation (as the real one refuses an invalid document). */
function rejectNext(server, code = 'invalid', message = 'enabled_models: not a list of model ids') {
  const mutate = server.mutate.bind(server);
  server.mutate = (user, clientId, m) => {
    server.mutate = mutate;
    return { status: 'reject', mutation_id: m.mutation_id, code, message };
  };
}

test('toggleModel shows at once, is saved, and rapid toggles queue in order', async () => {
  const w = world();
  w.server.write('alice', 'user:alice', [{ op: 'put', collection: 'model_preferences', id: 'openai', value: prefs(['gpt-4']) }]);
  const p = probe(() => useModelPreferences());
  await w.render(p.element);
  assert.equal(p.current.isLoading, true);
  await w.advance();
  assert.equal(p.current.isLoading, false);
  assert.deepEqual(p.current.preferences.openai.enabled_models, ['gpt-4']);
  assert.equal(p.current.getLastSyncedRelative(), 'just now');
  assert.equal(p.current.isStale(), false);

  let a;
  let b;
  await w.act(() => {
    a = p.current.toggleModel('openai', 'gpt-4o');
    b = p.current.toggleModel('openai', 'gpt-4');
  });
  assert.ok(p.all.some((x) => x.isSaving && x.preferences.openai?.enabled_models.join() === 'gpt-4o'), 'optimistic: shown before the acks');
  await Promise.all([a, b]);
  await w.advance();
  assert.deepEqual(p.current.preferences.openai.enabled_models, ['gpt-4o']);
  assert.equal(p.current.isSaving, false);
  assert.match(p.current.preferences.openai.last_updated, /^2023-11-14T22:13/, 'stamped with the client clock');
  assert.deepEqual(w.server.space('user:alice').docs.get('model_preferences/openai').value.enabled_models, ['gpt-4o']);

  // A provider without a document yet: created enabled.
  await w.act(() => p.current.toggleModel('anthropic', 'claude'));
  await w.advance();
  assert.deepEqual(p.current.preferences.anthropic.enabled_models, ['claude']);
  assert.equal(p.current.preferences.anthropic.is_enabled, true);
  await w.done();
});

test('a rejected write is rolled back and its message shown', async () => {
  const w = world();
  w.server.write('alice', 'user:alice', [{ op: 'put', collection: 'model_preferences', id: 'openai', value: prefs(['gpt-4']) }]);
  const p = probe(() => useModelPreferences());
  await w.render(p.element);
  await w.advance();
  rejectNext(w.server);
  let write;
  await w.act(() => {
    write = p.current.setProviderEnabled('openai', false);
  });
  await assert.rejects(write, (e) => e.code === 'invalid');
  await w.advance();
  assert.ok(p.all.some((x) => x.preferences.openai?.is_enabled === false), 'was shown optimistically');
  assert.equal(p.current.preferences.openai.is_enabled, true, 'rolled back');
  assert.deepEqual(p.current.preferences.openai, prefs(['gpt-4']));
  assert.equal(p.current.error, 'enabled_models: not a list of model ids');
  assert.equal(p.current.isSaving, false);
  await w.act(() => p.current.clearError());
  assert.equal(p.current.error, null);
  await w.done();
});
