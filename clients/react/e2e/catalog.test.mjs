// Seed 001's catalog callbacks in real Chromium: the catalog is changed by an
// admin over HTTP (PATCH /v1/spaces/catalog/docs/...), and the React app's
// useProviderSync gets onModelDeprecated / onProviderStatus for exactly the
// changes that are a deprecation or a status change.
import test from 'node:test';
import assert from 'node:assert/strict';
import { fixture, token, api, openApp, waitIdle } from './react.mjs';

const f = fixture();

async function adminPatch(collection, id, value) {
  const r = await api(f.server, f.admin, 'PATCH', `/v1/spaces/catalog/docs/${collection}/${encodeURIComponent(id)}`, value);
  assert.equal(r.status, 200, JSON.stringify(r.json));
}

const recorded = (page) => page.evaluate(() => ({ deprecated: window.t.deprecated, providerStatus: window.t.providerStatus }));

test('a model deprecated by an admin reaches onModelDeprecated (once), a provider status change onProviderStatus, other changes neither', async () => {
  const tok = await token(f.server, 'rx-catalog');
  const page = await openApp(f.context, f.server, { token: tok, show: ['catalog'] });
  await waitIdle(page);
  await page.waitForSelector('[data-testid=model-gpt-4o]');
  // Loading the catalog (models already deprecated in it included) is no event.
  assert.deepEqual(await recorded(page), { deprecated: [], providerStatus: [] });

  // A change that is neither: shown, no callback.
  await adminPatch('models', 'gpt-4o-mini', { max_output_tokens: 8000 });
  await page.waitForSelector('[data-testid=model-gpt-4o-mini][data-max-output="8000"]');
  assert.deepEqual(await recorded(page), { deprecated: [], providerStatus: [] });

  await adminPatch('providers', 'anthropic', { status: 'unavailable' });
  await page.waitForFunction(() => window.t.providerStatus.length > 0);
  await adminPatch('models', 'gpt-4o', { deprecation_status: 'deprecated', deprecation_date: '2026-09-01', sunset_date: '2027-03-01', replacement_model_id: 'gpt-4o-mini' });
  await page.waitForFunction(() => window.t.deprecated.length > 0);
  // useModels() lists active models only: gpt-4o leaves the list.
  await page.waitForSelector('[data-testid=model-gpt-4o]', { state: 'detached' });
  await waitIdle(page);
  assert.deepEqual(await recorded(page), {
    deprecated: [{ id: 'gpt-4o', status: 'deprecated', was: 'active', replacement: 'gpt-4o-mini' }],
    providerStatus: [{ id: 'anthropic', status: 'unavailable', was: 'degraded' }],
  });
  await page.close();
});
