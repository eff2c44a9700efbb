// The README's quick-start example: a fresh React app with tidemark-react
// installed from this folder (see README.md, "Install"). It signs in with a
// development token (a server started with --dev), shows the sync badge and
// one synced setting. e2e/install.test.mjs installs the package into a new
// app, bundles this file there and runs it against a real server.
import { createRoot } from 'react-dom/client';
import { TidemarkProvider, SyncStatusBadge, useDoc, useMutation } from 'tidemark-react';

// Your app's sign-in gives you a token; `--dev` servers mint one for any name.
async function devToken() {
  const user = new URLSearchParams(location.search).get('user') || 'alice';
  const r = await fetch('/dev/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user }) });
  return (await r.json()).token;
}

function ThemePicker() {
  const { value: ui, pending } = useDoc('user:me', 'settings', 'ui');
  const { patch } = useMutation();
  return (
    <p>
      Theme: <b data-testid="theme">{ui?.theme ?? 'light'}</b> {pending ? '(saving…)' : null}
      {['light', 'dark', 'system'].map((theme) => (
        <button key={theme} data-testid={`set-${theme}`} onClick={() => patch('user:me', 'settings', 'ui', { theme })}>
          {theme}
        </button>
      ))}
    </p>
  );
}

createRoot(document.getElementById('root')).render(
  <TidemarkProvider url={location.origin} token={devToken}>
    <SyncStatusBadge />
    <ThemePicker />
  </TidemarkProvider>,
);
