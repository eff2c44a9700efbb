//! Micro-benchmarks of the hot functions (criterion):
//!
//! - catch-up lookup: `Ring::since` and `Engine::catch_up` on a space whose
//!   ring is full (1,024 events), for cursors 1, 100 and 1,000 events behind;
//! - merge-patch apply: `merge_patch` and `apply_ops` (patch, put) on a space
//!   of 100 documents;
//! - event encoding: serializing an event, `event_frame`, and an `events`
//!   catch-up frame of 100 events.
//!
//! `cargo bench --bench micro` (add a filter such as `-- catch_up`);
//! `cargo test --benches` runs each once.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tidemark::engine::space::{DocEntry, EventRec, Ring, Space, SpaceData};
use tidemark::engine::{Engine, EngineConfig, Limits, apply_ops, merge_patch};
use tidemark::protocol::{Cursor, Event, EventOp, Op, Origin, RawEvent, ServerMsg, event_frame};

const RING: u64 = 1024;
const EPOCH: &str = "0192f0c4e1a87b3d9c2e4f6a8b0c1d2e";

/// A settings document of about 20 fields, as a client would keep.
fn settings(i: u64) -> Value {
    json!({
        "theme": "dark", "language": "en", "density": "compact", "font_size": 14,
        "sidebar": {"open": true, "width": 280, "pinned": ["inbox", "today", "later"]},
        "notifications": {"email": false, "push": true, "digest": "daily"},
        "shortcuts": {"search": "mod+k", "new": "mod+n", "close": "mod+w"},
        "recent": ["doc-1", "doc-2", "doc-3", "doc-4"],
        "model": "openai/gpt-4", "temperature": 0.7, "seq": i,
    })
}

fn event(version: u64) -> Event {
    Event {
        space: "user:alice".into(),
        version,
        op: EventOp::Upsert,
        collection: "settings".into(),
        id: "ui".into(),
        value: settings(version),
        event: None,
        origin: Some(Origin {
            client_id: "c-7f3a9b".into(),
            mutation_id: version,
        }),
        at: "2026-11-21T10:30:00.123Z".into(),
    }
}

fn raw(e: &Event) -> Box<RawValue> {
    serde_json::value::to_raw_value(e).expect("events serialize")
}

fn full_ring() -> Ring {
    let mut ring = Ring::new(RING as usize, 64 << 20);
    for v in 1..=RING {
        ring.push(Arc::new(EventRec::new(v, raw(&event(v)))));
    }
    ring
}

/// A space at version 1,024 with 100 documents and a full ring.
fn space_data() -> SpaceData {
    let mut d = SpaceData {
        epoch: Arc::from(EPOCH),
        version: RING,
        log_start: 0,
        docs: Default::default(),
        live_docs: 0,
        doc_bytes: 0,
        ring: full_ring(),
    };
    for i in 0..100 {
        let value: Box<RawValue> = serde_json::value::to_raw_value(&settings(i)).expect("json");
        d.set(
            "settings",
            &format!("doc-{i}"),
            DocEntry {
                version: i + 1,
                value: Some(Arc::from(value)),
            },
        );
    }
    d
}

fn catch_up(c: &mut Criterion) {
    let ring = full_ring();
    let mut g = c.benchmark_group("catch_up");
    for behind in [1u64, 100, 1000] {
        g.bench_function(format!("ring_since/{behind}_behind"), |b| {
            b.iter(|| black_box(ring.since(black_box(RING - behind))))
        });
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let engine = rt.block_on(async {
        let store = tidemark::store::connect("sqlite::memory:")
            .await
            .expect("in-memory store");
        Engine::new(store, EngineConfig::default())
    });
    let space = Space::new("user:alice", space_data(), 32);
    for behind in [0u64, 1, 100, 1000] {
        let cursor = Cursor {
            epoch: EPOCH.into(),
            version: RING - behind,
        };
        g.bench_function(format!("engine/{behind}_behind"), |b| {
            b.iter(|| {
                rt.block_on(engine.catch_up(&space, Some(black_box(&cursor))))
                    .expect("catch-up from memory")
            })
        });
    }
    g.finish();
}

fn merge(c: &mut Criterion) {
    let mut g = c.benchmark_group("merge_patch");
    let doc = settings(1);
    let small = json!({"theme": "light"});
    let nested = json!({"sidebar": {"width": 320, "pinned": null}, "notifications": {"push": false}, "new": {"a": 1}});
    g.bench_function("one_field", |b| {
        b.iter_batched(
            || doc.clone(),
            |mut d| {
                merge_patch(&mut d, black_box(&small));
                d
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("nested", |b| {
        b.iter_batched(
            || doc.clone(),
            |mut d| {
                merge_patch(&mut d, black_box(&nested));
                d
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("apply_ops");
    let data = space_data();
    let limits = Limits::default();
    let patch = vec![Op::Patch {
        collection: "settings".into(),
        id: "doc-7".into(),
        value: json!({"theme": "light"}),
        if_version: None,
    }];
    let put = vec![Op::Put {
        collection: "settings".into(),
        id: "doc-7".into(),
        value: settings(99),
        if_version: Some(8),
    }];
    let put_100: Vec<Op> = (0..100)
        .map(|i| Op::Put {
            collection: "settings".into(),
            id: format!("doc-{i}"),
            value: settings(1000 + i),
            if_version: None,
        })
        .collect();
    for (name, ops) in [("patch_1", &patch), ("put_1", &put), ("put_100", &put_100)] {
        g.bench_function(name, |b| {
            b.iter(|| apply_ops(&data, black_box(ops), &limits).expect("applies"))
        });
    }
    g.finish();
}

fn encoding(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    let ev = event(42);
    let json = serde_json::to_string(&ev).expect("json");
    g.bench_function("event_to_raw_value", |b| b.iter(|| raw(black_box(&ev))));
    g.bench_function("event_frame", |b| b.iter(|| event_frame(black_box(&json))));
    g.bench_function("event_rec_new", |b| {
        b.iter_batched(|| raw(&ev), |r| EventRec::new(42, r), BatchSize::SmallInput)
    });
    let ring = full_ring();
    let batch: Vec<RawEvent> = ring
        .since(RING - 100)
        .expect("in the ring")
        .iter()
        .map(|e| RawEvent(e.json.clone()))
        .collect();
    g.bench_function("events_frame_100", |b| {
        b.iter(|| {
            ServerMsg::Events {
                space: "user:alice".into(),
                epoch: EPOCH.into(),
                from: RING - 100,
                to: RING,
                events: batch.clone(),
            }
            .to_json()
        })
    });
    g.finish();
}

criterion_group!(benches, catch_up, merge, encoding);
criterion_main!(benches);
