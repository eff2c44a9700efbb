// The inspector's per-second chart, drawn on a <canvas>: events committed
// per second (bars) and live frames delivered per second (line) over the
// last few minutes. Points come from the server's `stats` messages, one per
// second; the current second is redrawn as it grows.

export const WINDOW_SECONDS = 180;

export class RateChart {
  /** @param {HTMLCanvasElement} canvas */
  constructor(canvas) {
    this.canvas = canvas;
    /** second (Unix) -> { events, deliveries } */
    this.points = new Map();
    this.latest = 0;
    this.colors = { events: '#3656d6', deliveries: '#117a45', grid: '#e1e4ea', text: '#667085' };
    this.resize = () => this.draw();
    window.addEventListener('resize', this.resize);
  }

  /** Records what `second` counted so far (a later reading of the same second replaces it). */
  set(second, events, deliveries) {
    if (second < this.latest - WINDOW_SECONDS) return;
    this.points.set(second, { events, deliveries });
    if (second > this.latest) this.latest = second;
    for (const s of this.points.keys()) if (s <= this.latest - WINDOW_SECONDS) this.points.delete(s);
    this.publish();
    this.draw();
  }

  clear() {
    this.points.clear();
    this.latest = 0;
    this.publish();
    this.draw();
  }

  /** Totals over the window, on the element too (for people reading the page with tools). */
  totals() {
    let events = 0;
    let deliveries = 0;
    let peak = 0;
    for (const p of this.points.values()) {
      events += p.events;
      deliveries += p.deliveries;
      peak = Math.max(peak, p.events, p.deliveries);
    }
    const now = this.points.get(this.latest) || { events: 0, deliveries: 0 };
    return { events, deliveries, peak, nowEvents: now.events, nowDeliveries: now.deliveries };
  }

  publish() {
    const t = this.totals();
    this.canvas.dataset.events = String(t.events);
    this.canvas.dataset.deliveries = String(t.deliveries);
    this.canvas.dataset.points = String(this.points.size);
    this.canvas.setAttribute(
      'aria-label',
      `Last ${WINDOW_SECONDS / 60} minutes: ${t.events} events committed, ${t.deliveries} frames delivered; now ${t.nowEvents} events/s, ${t.nowDeliveries} deliveries/s`,
    );
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth || 600;
    const h = c.clientHeight || 180;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const g = c.getContext('2d');
    if (!g) return;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const left = 36;
    const bottom = 18;
    const top = 8;
    const plotW = w - left - 8;
    const plotH = h - bottom - top;
    const { peak } = this.totals();
    const max = niceMax(peak);
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = this.colors.text;
    g.strokeStyle = this.colors.grid;
    g.lineWidth = 1;
    for (const f of [0, 0.5, 1]) {
      const y = top + plotH * (1 - f);
      g.beginPath();
      g.moveTo(left, Math.round(y) + 0.5);
      g.lineTo(left + plotW, Math.round(y) + 0.5);
      g.stroke();
      g.textAlign = 'right';
      g.textBaseline = 'middle';
      g.fillText(String(Math.round(max * f)), left - 6, y);
    }
    g.textAlign = 'center';
    g.textBaseline = 'alphabetic';
    for (let m = 0; m <= WINDOW_SECONDS / 60; m++) {
      const x = left + plotW * (1 - (m * 60) / WINDOW_SECONDS);
      g.fillText(m === 0 ? 'now' : `-${m}m`, Math.min(Math.max(x, left + 10), left + plotW - 12), h - 4);
    }
    if (!this.latest) return;
    const step = plotW / WINDOW_SECONDS;
    const xOf = (s) => left + plotW - (this.latest - s + 1) * step;
    const yOf = (v) => top + plotH * (1 - v / max);
    g.fillStyle = this.colors.events;
    for (const [s, p] of this.points) {
      if (!p.events) continue;
      const y = yOf(p.events);
      g.fillRect(xOf(s) + 0.5, y, Math.max(step - 1, 1), top + plotH - y);
    }
    g.strokeStyle = this.colors.deliveries;
    g.lineWidth = 2;
    g.beginPath();
    let first = true;
    for (let s = this.latest - WINDOW_SECONDS + 1; s <= this.latest; s++) {
      const p = this.points.get(s);
      if (!p) {
        first = true;
        continue;
      }
      const x = xOf(s) + step / 2;
      const y = yOf(p.deliveries);
      if (first) g.moveTo(x, y);
      else g.lineTo(x, y);
      first = false;
    }
    g.stroke();
  }
}

/** A round axis maximum at or above `v` (at least 5). */
export function niceMax(v) {
  if (v <= 5) return 5;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}
