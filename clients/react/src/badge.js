// Seed 000's SyncStatusBadge, with the states a live client adds: green
// "Synced just now" / "Synced 2m ago", blue while syncing, orange "Unsaved
// changes" (with "Save now") while debounced or queued writes wait, grey
// offline, yellow "Stale" after 5 minutes without a sync, red on error.
import { createElement as h, useCallback } from 'react';
import { useTidemarkClient } from './ctx.js';
import { storeFor } from './store.js';
import { useStatus } from './hooks.js';

const COLORS = {
  green: { bg: '#e6f4ea', fg: '#1e7e34', dot: '#28a745' },
  blue: { bg: '#e7f1ff', fg: '#1a56db', dot: '#3b82f6' },
  orange: { bg: '#fff4e5', fg: '#b45309', dot: '#f59e0b' },
  grey: { bg: '#f1f3f5', fg: '#495057', dot: '#adb5bd' },
  yellow: { bg: '#fff9db', fg: '#8a6d00', dot: '#fcc419' },
  red: { bg: '#fdecea', fg: '#b91c1c', dot: '#ef4444' },
};

/**
 * The badge for a status snapshot (useStatus()): `{state, color, label,
 * canSave}`; state is `error`, `unsaved`, `syncing`, `stale`, `offline` or
 * `synced`, in that order of precedence.
 */
export function badgeState(s) {
  const live = s.status === 'synced' || s.status === 'syncing';
  if (s.status === 'error') return { state: 'error', color: 'red', label: 'Sync error', canSave: false };
  if (s.unsavedCount > 0 || (s.pendingCount > 0 && !live)) return { state: 'unsaved', color: 'orange', label: 'Unsaved changes', canSave: true };
  if (s.status === 'syncing') return { state: 'syncing', color: 'blue', label: 'Syncing…', canSave: false };
  if (s.status === 'connecting') return { state: 'syncing', color: 'blue', label: 'Connecting…', canSave: false };
  if (s.status === 'stale' || s.isStale) return { state: 'stale', color: 'yellow', label: 'Stale', canSave: false };
  if (s.status === 'disconnected') {
    const when = s.lastSynced ? ` · synced ${s.lastSyncedRelative}` : '';
    return { state: 'offline', color: 'grey', label: `Offline${when}`, canSave: false };
  }
  return { state: 'synced', color: 'green', label: `Synced ${s.lastSyncedRelative}`, canSave: false };
}

/**
 * `<SyncStatusBadge />`. Props: `onRefresh` (default: the client's
 * forceSync), `showRefresh` (default true), `className`, `style`, and
 * `labels` to rename states (`{synced: (s) => ..., unsaved: 'Pending'}`).
 */
export function SyncStatusBadge(props = {}) {
  const { onRefresh, showRefresh = true, className, style, labels } = props;
  const client = useTidemarkClient();
  const st = useStatus();
  const b = badgeState(st);
  const c = COLORS[b.color];
  const custom = labels && labels[b.state];
  const label = typeof custom === 'function' ? custom(st) : custom || b.label;
  const saveNow = useCallback(() => {
    storeFor(client).saveNow();
  }, [client]);
  const refresh = useCallback(() => {
    if (onRefresh) return onRefresh();
    client.forceSync().catch(() => {});
  }, [client, onRefresh]);
  const title = b.state === 'error' && st.error ? st.error.message : st.lastSynced ? `Last synced ${st.lastSynced.toISOString()}` : 'Never synced';
  return h(
    'span',
    {
      role: 'status',
      className: `tidemark-badge tidemark-badge--${b.state}${className ? ` ${className}` : ''}`,
      'data-state': b.state,
      'data-color': b.color,
      title,
      style: { display: 'inline-flex', alignItems: 'center', gap: 6, padding: '2px 8px', borderRadius: 999, fontSize: 12, background: c.bg, color: c.fg, ...style },
    },
    h('span', { 'aria-hidden': true, className: 'tidemark-badge__dot', style: { width: 8, height: 8, borderRadius: '50%', background: c.dot } }),
    h('span', { className: 'tidemark-badge__label' }, label),
    b.canSave ? h('button', { type: 'button', className: 'tidemark-badge__save', onClick: saveNow }, 'Save now') : null,
    showRefresh
      ? h('button', { type: 'button', className: 'tidemark-badge__refresh', 'aria-label': 'Refresh', disabled: b.state === 'syncing', onClick: refresh }, b.state === 'syncing' ? '⟳' : '↻')
      : null,
  );
}
