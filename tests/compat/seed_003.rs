//! Seed 003 (chat sync). The client posts its whole history
//! (`syncConversations`), reads it back keeping only `conv.userId ===
//! user.id`, asks for what changed `since` an ISO timestamp (`SyncRequest.since?:
//! string // ISO timestamp`), and expects "a single transaction for all sync
//! operations" ("Short-term Fix", 3).

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::ws::{Replica, Ws};
use crate::common::{Backend, TestDb, TestServer, args};

both_stores!(
    iso_since_answers_what_changed_after_that_time,
    a_5000_message_sync_is_one_mutation_no_reader_sees_its_middle,
    history_pages_in_a_stable_order_and_the_full_answer_stays,
    session_statistics_count_each_message_once,
    every_field_the_seed_client_sends_is_taken,
    kill_9_during_a_5000_message_sync_leaves_all_or_none,
);

fn msg(conv: &str, i: usize) -> Value {
    json!({"id": format!("{conv}-m{i}"), "role": if i.is_multiple_of(2) { "user" } else { "assistant" },
           "content": format!("message {i}"), "timestamp": 1_763_700_000_000u64 + i as u64,
           "tokens": 3, "isStreaming": false})
}

fn conv(id: &str, n: usize) -> Value {
    json!({"id": id, "title": format!("Chat {id}"), "userId": "alice",
           "createdAt": "2026-11-20T09:00:00.000Z", "updatedAt": "2026-11-20T09:05:00.000Z",
           "messages": (0..n).map(|i| msg(id, i)).collect::<Vec<_>>()})
}

async fn post(s: &TestServer, t: &str, body: &Value) -> Value {
    let (st, v) = s
        .send("POST", t, "/api/chat/sync", Some(body.clone()))
        .await;
    assert_eq!(st, 200, "{v}");
    v
}

/// The seed client's load path: everything whose `userId` is the user's.
fn kept(answer: &Value, user: &str) -> Vec<String> {
    answer["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["userId"] == user)
        .flat_map(|c| c["messages"].as_array().unwrap().iter())
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

/// `new Date().toISOString()`.
fn iso_now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

async fn iso_since_answers_what_changed_after_that_time(b: Backend) {
    let db = TestDb::new(b).await;
    let s = TestServer::start(&args(&db)).await;
    let t = s.token("alice");
    post(&s, &t, &json!({"conversations": [conv("c1", 3)]})).await;
    // The client notes when it last synced, then more happens. A time-based
    // `since` reaches back SINCE_MARGIN_MS before the given time (changes
    // stamped just before it may not have been visible then), so the first
    // sync is that much older here.
    let margin = tidemark::engine::SINCE_MARGIN_MS as u64;
    tokio::time::sleep(Duration::from_millis(margin + 300)).await;
    let last_sync = iso_now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut more = conv("c1", 3);
    more["messages"].as_array_mut().unwrap().push(msg("c1", 3));
    let r = post(&s, &t, &json!({"conversations": [more, conv("c2", 1)]})).await;

    let (st, delta) = s
        .get(&t, &format!("/api/chat/sync?since={last_sync}"))
        .await;
    assert_eq!(st, 200, "{delta}");
    assert_eq!(kept(&delta, "alice"), ["c1-m3", "c2-m0"], "{delta}");
    assert_eq!(delta["since"]["kind"], "time");
    assert_eq!(delta["since"]["value"], last_sync);
    assert_eq!(delta["full"], false);
    assert_eq!(delta["version"], r["version"]);
    // The same instant with an offset, and a time before everything.
    let (_, same) = s
        .get(
            &t,
            &format!("/api/chat/sync?since={}", offset_form(&last_sync)),
        )
        .await;
    assert_eq!(kept(&same, "alice"), ["c1-m3", "c2-m0"], "{same}");
    let (_, all) = s
        .get(&t, "/api/chat/sync?since=2020-01-01T00:00:00.000Z")
        .await;
    assert_eq!(kept(&all, "alice").len(), 5, "{all}");
    // Within the margin after the last change: it is answered again (a
    // client merges by id); well after it: nothing. A version is a version.
    let (_, again) = s
        .get(&t, &format!("/api/chat/sync?since={}", iso_now()))
        .await;
    assert_eq!(kept(&again, "alice"), ["c1-m3", "c2-m0"], "{again}");
    let later = humantime::format_rfc3339_millis(
        std::time::SystemTime::now() + Duration::from_millis(margin + 1_000),
    );
    let (_, none) = s.get(&t, &format!("/api/chat/sync?since={later}")).await;
    assert_eq!(kept(&none, "alice").len(), 0, "{none}");
    let (_, by_version) = s.get(&t, "/api/chat/sync?since=0").await;
    assert_eq!(by_version["since"]["kind"], "version");
    // A time without a zone is ambiguous: 422 naming the field.
    let (st, bad) = s.get(&t, "/api/chat/sync?since=2026-11-20T09:00:00").await;
    assert_eq!((st, bad["error"]["field"].as_str()), (422, Some("since")));
    s.stop().await;
}

/// `2026-12-03T16:00:00.123Z` as `2026-12-03T18:00:00.123+02:00`, escaped
/// for a query string (`encodeURIComponent`).
fn offset_form(iso: &str) -> String {
    let h: u32 = iso[11..13].parse().unwrap();
    if h >= 22 {
        return iso.to_string(); // would cross midnight; the Z form is fine
    }
    format!(
        "{}{:02}{}%2B02:00",
        &iso[..11],
        h + 2,
        &iso[13..iso.len() - 1]
    )
}

async fn a_5000_message_sync_is_one_mutation_no_reader_sees_its_middle(b: Backend) {
    let db = TestDb::new(b).await;
    let s = TestServer::start(&args(&db)).await;
    let t = s.token("alice");
    let v0 = post(&s, &t, &json!({"conversations": [conv("c0", 1)]})).await["version"]
        .as_u64()
        .unwrap();
    // A live subscriber, and readers polling /version and long-polling.
    let mut ws = Ws::open(&s.base, &t).await;
    ws.hello("tab", json!({"user:me": null})).await;
    let mut replica = Replica::default();
    replica.apply(&ws.recv().await);
    assert_eq!(replica.version, v0);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poll = {
        let (http, url, t, stop) = (
            s.http.clone(),
            s.url("/v1/spaces/user:me/version"),
            t.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let mut seen = vec![];
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = http.get(&url).bearer_auth(&t).send().await.unwrap();
                let v: Value = r.json().await.unwrap();
                seen.push(v["version"].as_u64().unwrap());
            }
            seen
        })
    };
    let long_poll = {
        let (http, t) = (s.http.clone(), t.clone());
        let url = s.url(&format!("/v1/spaces/user:me/version?since={v0}&wait=20"));
        tokio::spawn(async move {
            let r = http.get(&url).bearer_auth(&t).send().await.unwrap();
            r.json::<Value>().await.unwrap()["version"]
                .as_u64()
                .unwrap()
        })
    };
    let body = json!({"conversations": (0..10).map(|c| conv(&format!("c{}", c + 1), 500)).collect::<Vec<_>>()});
    let r = post(&s, &t, &body).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    // 5,000 messages, 10 conversations and the usage document.
    let end = v0 + 5_000 + 10 + 1;
    assert_eq!(
        (r["written"].as_u64(), r["version"].as_u64()),
        (Some(5_010), Some(end)),
        "{r}"
    );
    let seen = poll.await.unwrap();
    assert!(
        seen.iter().all(|v| *v == v0 || *v == end),
        "a reader saw a version inside the sync: {:?}",
        seen.iter()
            .filter(|v| **v != v0 && **v != end)
            .take(5)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        long_poll.await.unwrap(),
        end,
        "the long-poll wakes at the end, not in the middle"
    );
    // The subscriber gets every version once, in order, ending at the end.
    while replica.version < end {
        let f = ws.recv().await;
        replica.apply(&f);
    }
    assert_eq!(replica.version, end);
    // A fresh reader's snapshot is never in the middle either.
    let (_, all) = s.get(&t, "/api/chat/sync").await;
    assert_eq!(kept(&all, "alice").len(), 5_001);
    s.stop().await;
}

async fn history_pages_in_a_stable_order_and_the_full_answer_stays(b: Backend) {
    let db = TestDb::new(b).await;
    let s = TestServer::start(&args(&db)).await;
    let t = s.token("alice");
    let mut empty = conv("c0-empty", 0);
    empty["title"] = json!("nothing yet");
    let body = json!({"conversations": [conv("c2", 7), empty, conv("c1", 5), conv("c3", 1)]});
    post(&s, &t, &body).await;
    let (_, full) = s.get(&t, "/api/chat/sync").await;
    let want = kept(&full, "alice");
    assert_eq!(want.len(), 13);
    assert!(full.get("nextCursor").is_none(), "no paging unless asked");
    for limit in [1, 3, 4, 13, 50] {
        let (mut got, mut convs, mut cursor, mut pages) = (vec![], vec![], None::<String>, 0);
        loop {
            let path = match &cursor {
                None => format!("/api/chat/sync?limit={limit}"),
                Some(c) => format!("/api/chat/sync?limit={limit}&cursor={c}"),
            };
            let (st, page) = s.get(&t, &path).await;
            assert_eq!(st, 200, "{page}");
            let n = kept(&page, "alice").len();
            assert!(n <= limit, "{n} messages on a page of {limit}");
            got.extend(kept(&page, "alice"));
            for c in page["conversations"].as_array().unwrap() {
                convs.push(c["id"].as_str().unwrap().to_string());
            }
            pages += 1;
            assert!(pages <= 20, "paging does not end");
            match page["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        assert_eq!(
            got, want,
            "limit {limit}: every message once, in the full answer's order"
        );
        convs.dedup();
        assert_eq!(convs, ["c0-empty", "c1", "c2", "c3"], "limit {limit}");
    }
    let (st, bad) = s.get(&t, "/api/chat/sync?limit=2&cursor=garbage").await;
    assert_eq!((st, bad["error"]["field"].as_str()), (422, Some("cursor")));
    let (st, bad) = s.get(&t, "/api/chat/sync?limit=0").await;
    assert_eq!((st, bad["error"]["field"].as_str()), (422, Some("limit")));
    s.stop().await;
}

async fn session_statistics_count_each_message_once(b: Backend) {
    let db = TestDb::new(b).await;
    let s = TestServer::start(&args(&db)).await;
    let t = s.token("alice");
    let mut body = json!({"conversations": [conv("c1", 4)]});
    post(&s, &t, &body).await;
    let stats = |v: &Value| v["conversations"][0]["stats"].clone();
    let (_, got) = s.get(&t, "/api/chat/sync").await;
    let last = json!(1_763_700_000_003u64);
    assert_eq!(
        stats(&got),
        json!({"messageCount": 4, "totalTokens": 12, "lastMessageAt": last})
    );
    // The whole history again (the seed client's every sync): nothing moves.
    let again = post(&s, &t, &body).await;
    assert_eq!(again["written"], 0);
    let (_, got) = s.get(&t, "/api/chat/sync").await;
    assert_eq!(stats(&got)["messageCount"], 4);
    // One more message: counted once; an edited one: not counted again.
    body["conversations"][0]["messages"]
        .as_array_mut()
        .unwrap()
        .push(msg("c1", 4));
    body["conversations"][0]["messages"][0]["content"] = json!("edited");
    post(&s, &t, &body).await;
    post(&s, &t, &body).await;
    let (_, got) = s.get(&t, "/api/chat/sync").await;
    assert_eq!(
        stats(&got),
        json!({"messageCount": 5, "totalTokens": 15, "lastMessageAt": 1_763_700_000_004u64})
    );
    s.stop().await;
}

async fn every_field_the_seed_client_sends_is_taken(b: Backend) {
    let db = TestDb::new(b).await;
    let s = TestServer::start(&args(&db)).await;
    let t = s.token("alice");
    // Fields of the seed's client state: `incremental` on the request,
    // `userId`, `isStreaming`, `error: false`, per-message `metadata`.
    let body = json!({"incremental": false, "conversations": [{"id": "c1", "title": "T", "userId": "alice",
        "createdAt": "2026-11-20T09:00:00.000Z", "updatedAt": "2026-11-20T09:05:00.000Z",
        "isStreaming": false, "metadata": {"pinned": true},
        "messages": [{"id": "m1", "role": "user", "content": "hi", "timestamp": "2026-11-20T09:00:00.000Z",
                      "isStreaming": false, "error": false, "metadata": {"attachments": 0}, "model": "gpt-4o"}]}]});
    let r = post(&s, &t, &body).await;
    assert_eq!(r["written"], 2, "{r}");
    let (_, got) = s.get(&t, "/api/chat/sync").await;
    let c = &got["conversations"][0];
    assert_eq!(
        (c["userId"].as_str(), c["metadata"].clone()),
        (Some("alice"), json!({"pinned": true}))
    );
    let m = &c["messages"][0];
    assert_eq!(m["metadata"], json!({"attachments": 0}));
    assert_eq!(m["model"], "gpt-4o");
    s.stop().await;
}

/// `kill -9` of the server while a 5,000-message sync is in flight, at
/// several points in it (fractions of how long one takes here): after a
/// restart each user's history holds all of that sync or none of it, never a
/// part, and an acknowledged sync is all there.
async fn kill_9_during_a_5000_message_sync_leaves_all_or_none(b: Backend) {
    let db = TestDb::new(b).await;
    let http = reqwest::Client::new();
    let body = json!({"conversations": (0..10)
        .map(|c| conv(&format!("c{c}"), 500)).collect::<Vec<_>>()});
    let sync = |base: &str, user: &str| {
        let t = crate::common::token(user, tidemark::engine::Role::User);
        http.post(format!("{base}/api/chat/sync"))
            .bearer_auth(t)
            .json(&body)
            .send()
    };
    // How long one sync takes on this machine, end to end.
    let p = crate::common::proc::spawn_server(&db).await;
    let started = std::time::Instant::now();
    assert_eq!(sync(&p.base, "timing").await.unwrap().status(), 200);
    let full = started.elapsed();
    drop(p);
    let mut outcomes = vec![];
    for (round, pct) in [5u32, 20, 40, 60, 80, 95, 150].into_iter().enumerate() {
        let user = format!("u{round}");
        let mut p = crate::common::proc::spawn_server(&db).await;
        let sent = tokio::spawn(sync(&p.base, &user));
        tokio::time::sleep(full * pct / 100).await;
        p.child.kill().unwrap();
        p.child.wait().unwrap();
        let acked = matches!(sent.await.unwrap(), Ok(r) if r.status() == 200);
        drop(p);
        let p = crate::common::proc::spawn_server(&db).await;
        let t = crate::common::token(&user, tidemark::engine::Role::User);
        let r = http
            .get(format!("{}/api/chat/sync", p.base))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        let now = kept(&r.json().await.unwrap(), &user).len();
        assert!(
            now == 0 || now == 5_000,
            "killed at {pct}% of a sync: {now} of its 5,000 messages survived"
        );
        assert!(
            !acked || now == 5_000,
            "killed at {pct}%: an acknowledged sync was lost"
        );
        outcomes.push((pct, now == 5_000));
    }
    eprintln!("a sync takes {full:?}; killed at (% of that, survived): {outcomes:?}");
}
