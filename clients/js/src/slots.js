// Client-id slots: which tab sends which queue.
//
// A client id owns a mutation counter and a queue in storage. Each tab holds
// one "main" id (new writes go there), taken with a lock: the Web Locks API
// where there is one (released by the browser when a tab dies), else a lease
// in storage renewed every `leaseRenewMs`. A tab prefers a free id with a
// non-empty queue, so a closed tab's writes are sent by the next tab; other
// free ids with queued writes are adopted as extra slots and flushed over
// POST /v1/sync (which takes a client_id per mutation), then released.
//
// A slot: `{cid, queue, main, sentOnConn, httpBusy, single, forceHttp}`
// (`fixed` for an id given in the options, `failures` of its HTTP flushes).

import { randomId } from './util.js';
import { MutationQueue } from './queue.js';

/** TidemarkClient methods: client ids, their locks or leases, their stored queues, and other tabs' pending writes. */
export const slotMethods = {
  _clientIds() {
    const list = this._read(this._key('clients'));
    return Array.isArray(list) ? list.filter((x) => typeof x === 'string') : [];
  },

  _rememberClientId(cid) {
    const list = this._clientIds();
    if (!list.includes(cid)) {
      list.push(cid);
      this._write(this._key('clients'), list);
    }
  },

  _forgetClientId(cid) {
    const list = this._clientIds().filter((x) => x !== cid);
    this._write(this._key('clients'), list);
  },

  _storedQueue(cid) {
    const q = this._read(this._key('q', cid));
    return q && Array.isArray(q.entries) ? q : { nextId: 1, entries: [] };
  },

  _persistQueue(slot) {
    if (!this._prefix) return;
    const q = slot.queue;
    // The counter is kept apart and never goes down, even if the queue is lost.
    const n = Number(this._read(this._key('n', slot.cid))) || 0;
    if (q.nextId > n) this._write(this._key('n', slot.cid), q.nextId);
    this._write(this._key('q', slot.cid), q.entries.length ? q.toJSON() : null);
  },

  async _lock(cid) {
    const locks = this._env.locks;
    if (locks && typeof locks.request === 'function') {
      return new Promise((resolve) => {
        locks
          .request(this._key('lock', cid), { ifAvailable: true }, (lock) => {
            if (!lock) {
              resolve(false);
              return undefined;
            }
            resolve(true);
            return new Promise((release) => this._lockReleases.set(cid, release));
          })
          .catch(() => resolve(false));
      });
    }
    return this._tryLease(cid);
  },

  _unlock(cid) {
    const release = this._lockReleases.get(cid);
    if (release) {
      this._lockReleases.delete(cid);
      release();
      return;
    }
    const key = this._key('lease', cid);
    const cur = this._read(key);
    if (cur && cur.tab === this._tabId) this._write(key, null);
  },

  _tryLease(cid) {
    const key = this._key('lease', cid);
    const now = this._now();
    const cur = this._read(key);
    if (cur && cur.tab !== this._tabId && cur.exp > now) return false;
    this._write(key, { tab: this._tabId, exp: now + this._opt.leaseTtlMs });
    const back = this._read(key);
    return !!back && back.tab === this._tabId;
  },

  _newSlot(cid, main) {
    const stored = this._storedQueue(cid);
    const n = Number(this._read(this._key('n', cid))) || 1;
    const queue = new MutationQueue({ clientId: cid, nextId: Math.max(n, stored.nextId || 1), entries: stored.entries, maxOps: this._opt.maxOpsPerMutation });
    const slot = { cid, queue, main, sentOnConn: new Set(), httpBusy: false, single: false, forceHttp: false };
    this._slots.set(cid, slot);
    for (const e of queue.entries) this._overlay.set(`${cid}:${e.mutationId}`, e);
    if (main) {
      this._main = slot;
      this.clientId = cid;
    }
    this._rememberClientId(cid);
    return slot;
  },

  async _acquireMain() {
    if (this._main) return this._main;
    const fixed = this._opt.clientId;
    if (fixed) {
      if (!(await this._lock(fixed))) console.warn(`tidemark: client id ${fixed} is in use by another tab`);
      const slot = this._newSlot(fixed, true);
      slot.fixed = true;
      return slot;
    }
    const ids = this._clientIds();
    const withQueue = ids.filter((c) => this._storedQueue(c).entries.length > 0);
    for (const cid of [...withQueue, ...ids.filter((c) => !withQueue.includes(c))]) {
      if (this._slots.has(cid)) continue;
      if (await this._lock(cid)) return this._newSlot(cid, true);
    }
    const cid = randomId('c-');
    await this._lock(cid);
    return this._newSlot(cid, true);
  },

  /** Adopts free client ids that still have queued writes (a closed tab's). */
  async _scanOrphans() {
    if (this._closed || !this._started || this._scanning) return;
    this._scanning = true;
    try {
      for (const cid of this._clientIds()) {
        if (this._slots.has(cid) || this._storedQueue(cid).entries.length === 0) continue;
        if (!(await this._lock(cid))) continue;
        if (this._closed) return;
        const slot = this._newSlot(cid, false);
        for (const e of slot.queue.entries) this._recomputeEntry(e, 'tab');
      }
    } finally {
      this._scanning = false;
    }
    this._pump();
  },

  /** Renews storage leases, re-checks them, adopts orphans, reconciles other tabs' pending writes. */
  _leaseTick() {
    if (this._closed) return;
    for (const [cid, slot] of [...this._slots]) {
      if (this._lockReleases.has(cid)) continue;
      const cur = this._read(this._key('lease', cid));
      if (!slot.fixed && cur && cur.tab !== this._tabId && cur.exp > this._now()) {
        this._loseSlot(slot); // another tab took it (this one was asleep too long)
        continue;
      }
      this._write(this._key('lease', cid), { tab: this._tabId, exp: this._now() + this._opt.leaseTtlMs });
      this._rememberClientId(cid);
    }
    this._reconcileOverlay();
    this._scanOrphans();
    this._timer('lease', this._opt.leaseRenewMs, () => this._leaseTick());
  },

  /** A slot whose lease was taken over: its new owner sends it and broadcasts the results. */
  _loseSlot(slot) {
    this._slots.delete(slot.cid);
    if (slot === this._main) {
      this._main = null;
      this.clientId = null;
      this._acquireMain().then(() => {
        this._moveEarly();
        if (this._ws) this._dropWs(this._ws, 4000, 'client id changed');
        this._pump();
      });
    }
  },

  /** Drops other tabs' pending entries no longer in storage (missed broadcasts). */
  _reconcileOverlay() {
    const stored = new Map();
    for (const [key, e] of [...this._overlay]) {
      if (e.clientId === null || this._slots.has(e.clientId)) continue;
      if (!stored.has(e.clientId)) stored.set(e.clientId, new Set(this._storedQueue(e.clientId).entries.map((x) => x.mutationId)));
      if (!stored.get(e.clientId).has(e.mutationId)) {
        this._overlay.delete(key);
        this._recomputeEntry(e, 'tab');
      }
    }
  },

  /** Every queue of this user in storage goes into the overlay (pending writes of closed or other tabs). */
  _loadStoredOverlay() {
    for (const cid of this._clientIds()) {
      for (const e of this._storedQueue(cid).entries) {
        const key = `${cid}:${e.mutationId}`;
        if (!this._overlay.has(key)) this._overlay.set(key, { ...e, clientId: cid });
      }
    }
  },
};
