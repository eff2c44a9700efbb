//! An engine over a fresh SQLite file, JSON strategies, and the runner the
//! engine properties share.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Map, Value};
use tidemark::engine::{Engine, EngineConfig, MutationInput, Principal, Role};
use tidemark::protocol::{CatchUp, Cursor, MutationResult, Op, Origin};

/// The one space the properties write: alice's.
pub const SPACE: &str = "user:alice";

/// Small enough that every answer occurs within a few dozen versions: the
/// ring holds the last 4 events, the log the last 8 or so (then it is
/// compacted), and a client more than 16 behind gets a snapshot.
pub fn small_engine_config() -> EngineConfig {
    EngineConfig {
        ring_max_events: 4,
        log_retention_events: 8,
        catchup_max_events: 16,
        catchup_page: 3,
        ..EngineConfig::default()
    }
}

pub fn alice() -> Principal {
    Principal {
        user: "alice".into(),
        role: Role::User,
    }
}

/// A SQLite database of its own, removed with it.
pub struct Db {
    _dir: tempfile::TempDir,
    pub url: String,
}

impl Db {
    pub fn new() -> Db {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("props.db").display());
        Db { _dir: dir, url }
    }

    /// An engine over this database (a second one reads what the first wrote).
    pub async fn engine(&self, cfg: EngineConfig) -> Engine {
        let store = tidemark::store::connect(&self.url).await.expect("store");
        Engine::new(store, cfg)
    }
}

/// One runtime for every case: each case blocks on its own future.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// Runs `test` on `cases` inputs (more with `PROPTEST_CASES`); a failure
/// panics with the smallest input found.
pub fn run<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value)) -> u32
where
    S::Value: Debug,
{
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(cases);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let outcome = runner.run(&strategy, |input| {
        test(input);
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
    cases
}

pub async fn mutate(
    engine: &Engine,
    client: &str,
    mutation_id: u64,
    ops: Vec<Op>,
) -> MutationResult {
    let input = MutationInput {
        origin: Some(Origin {
            client_id: client.into(),
            mutation_id,
        }),
        space: SPACE.into(),
        ops,
        trusted: false,
    };
    engine.mutate(&alice(), input).await.expect("mutate").1
}

/// What the engine answers a client holding `cursor` of [`SPACE`].
pub async fn answer(engine: &Engine, cursor: Option<&Cursor>) -> CatchUp {
    let space = engine.space(SPACE).await.expect("space");
    engine.catch_up(&space, cursor).await.expect("catch-up")
}

/// An answer's events as JSON.
pub fn events(answer: &CatchUp) -> Vec<Value> {
    match answer {
        CatchUp::Events { events, .. } => events
            .iter()
            .map(|e| serde_json::from_str(e.0.get()).expect("event JSON"))
            .collect(),
        _ => Vec::new(),
    }
}

/// `(collection, id) -> (version, value)`: the live documents.
pub type State = BTreeMap<(String, String), (u64, Value)>;

/// The live documents after `log` (events from version 1 on).
pub fn replay(log: &[Value]) -> State {
    let mut state = State::new();
    for ev in log {
        let key = (
            ev["collection"].as_str().unwrap().to_string(),
            ev["id"].as_str().unwrap().to_string(),
        );
        match ev["op"].as_str() {
            Some("upsert") => {
                state.insert(key, (ev["version"].as_u64().unwrap(), ev["value"].clone()));
            }
            _ => {
                state.remove(&key);
            }
        }
    }
    state
}

/// A snapshot's documents as a [`State`].
pub fn snapshot_state(answer: &CatchUp) -> State {
    let CatchUp::Snapshot { docs, .. } = answer else {
        panic!("not a snapshot");
    };
    docs.iter()
        .map(|d| {
            let value = serde_json::from_str(d.value.get()).expect("doc JSON");
            ((d.collection.clone(), d.id.clone()), (d.version, value))
        })
        .collect()
}

/// JSON of small depth over few keys, so values and patches overlap.
pub fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..100).prop_map(Value::from),
        "[a-c]{0,2}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-d]", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A JSON object (a document value or a patch).
pub fn object() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-d]", json(), 0..4)
        .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
}

/// An op on `notes/{a..e}`; `hostile` adds what is refused: a bad
/// collection name, a `null` put or patch, a guessed `if_version`.
pub fn op(hostile: bool) -> BoxedStrategy<Op> {
    let id = "[a-e]".prop_map(String::from);
    let if_version = if hostile {
        prop_oneof![3 => Just(None), 1 => (0u64..6).prop_map(Some)].boxed()
    } else {
        Just(None).boxed()
    };
    let collection = if hostile {
        prop_oneof![9 => Just("notes"), 1 => Just("Bad!")].boxed()
    } else {
        Just("notes").boxed()
    };
    let value = if hostile {
        prop_oneof![9 => object(), 1 => Just(Value::Null)].boxed()
    } else {
        object().boxed()
    };
    (collection, id, value, if_version, 0..3u8)
        .prop_map(|(c, id, value, if_version, kind)| {
            let collection = c.to_string();
            match kind {
                0 => Op::Put {
                    collection,
                    id,
                    value,
                    if_version,
                },
                1 => Op::Patch {
                    collection,
                    id,
                    value,
                    if_version,
                },
                _ => Op::Delete {
                    collection,
                    id,
                    if_version,
                },
            }
        })
        .boxed()
}
