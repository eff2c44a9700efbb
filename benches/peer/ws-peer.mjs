// The peer row of README's fan-out figures: the same mini-protocol as the
// floor (benches/floor.rs), served by Node's `ws` — what a hand-rolled Node
// sync server starts from. `welcome`; a `hello` that subscribes gets an empty
// `snapshot` and every later event; a `mutate` gets an `ack`, and its ops go
// to every subscriber as `event` frames, each encoded once.
//
//   node benches/peer/ws-peer.mjs --listen 127.0.0.1:9000   (scripts/bench --peer)
import { WebSocketServer } from 'ws';

const at = process.argv.indexOf('--listen');
if (at < 0) { console.error('ws-peer: run with --listen HOST:PORT'); process.exit(2); }
const [host, port] = process.argv[at + 1].split(':');
const wss = new WebSocketServer({ host, port: Number(port), handleProtocols: () => 'tidemark.v1' });
const subscribers = new Set();
let version = 0;
wss.on('connection', (ws, req) => {
  req.socket.setNoDelay(true);
  ws.send(JSON.stringify({ type: 'welcome', session: 'peer', heartbeat_ms: 25000, limits: {} }));
  ws.on('message', (data) => {
    let m;
    try { m = JSON.parse(data); } catch { return; }
    if (m.type === 'hello' && m.subscribe && Object.keys(m.subscribe).length) {
      ws.send(JSON.stringify({ type: 'snapshot', space: 'catalog', epoch: 'peer', version, docs: [] }));
      subscribers.add(ws);
    } else if (m.type === 'mutate') {
      for (const op of m.ops || []) {
        version += 1;
        const ev = JSON.stringify({ type: 'event', space: 'catalog', version, op: 'upsert', collection: op.collection, id: op.id, value: op.value });
        for (const s of subscribers) s.send(ev);
      }
      ws.send(JSON.stringify({ type: 'ack', mutation_id: m.mutation_id, space: 'catalog', version, noop: !(m.ops || []).length }));
    } else if (m.type === 'ping') {
      ws.send(JSON.stringify({ type: 'pong', nonce: m.nonce }));
    }
  });
  ws.on('close', () => subscribers.delete(ws));
});
console.error(`ws-peer: listening on ${host}:${port}`);
