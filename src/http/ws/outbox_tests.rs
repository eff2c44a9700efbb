//! The outbox's unit tests (its bounds, order, links and the sum it counts into).

use super::*;
use tokio::io::AsyncReadExt;

fn unbounded() -> Arc<Pressure> {
    Arc::new(Pressure::new(usize::MAX))
}

#[test]
fn queued_bytes_count_into_the_sum_until_gone() {
    let p = unbounded();
    {
        let out = Outbox::new(10, std::time::Duration::ZERO, p.clone());
        out.push(Bytes::from(vec![0u8; 6]));
        out.push(Bytes::from(vec![0u8; 3]));
        assert_eq!(p.queued(), 9);
        // Over twice the bound: cut to the frame being written + 4009.
        out.push(Bytes::from(vec![0u8; 30]));
        let kept = out.lock().bytes;
        assert_eq!(p.queued(), kept);
    }
    assert_eq!(p.queued(), 0, "a dropped outbox gives its bytes back");
}

async fn pair() -> (Arc<Outbox>, tokio::net::TcpStream) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = tokio::net::TcpStream::connect(l.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = l.accept().await.unwrap();
    let out = Arc::new(Outbox::new(
        100,
        std::time::Duration::from_secs(1),
        unbounded(),
    ));
    out.attach(crate::http::listen::WriteSide::Plain(server.into_split().1));
    (out, client)
}

async fn read(c: &mut tokio::net::TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    c.read_exact(&mut buf).await.unwrap();
    buf
}

fn ev(v: u64) -> Arc<EventRec> {
    let raw = serde_json::value::RawValue::from_string(format!(r#"{{"version":{v}}}"#)).unwrap();
    Arc::new(EventRec::new(v, raw))
}

#[tokio::test]
async fn frames_go_out_in_order_and_at_once() {
    let (out, mut c) = pair().await;
    out.push(Bytes::from_static(b"ab"));
    out.text("x");
    assert!(out.is_empty(), "written through: the socket had room");
    assert_eq!(read(&mut c, 5).await, b"ab\x81\x01x");
}

#[tokio::test]
async fn nothing_is_accepted_after_a_close() {
    let (out, mut c) = pair().await;
    out.close_with(1012, "restart");
    out.text("late");
    assert!(out.is_closed());
    let got = read(&mut c, 11).await;
    assert_eq!(got[0], 0x88);
    assert_eq!(&got[4..], b"restart");
    drop(out);
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "nothing after the close frame");
}

#[tokio::test]
async fn live_events_follow_the_answer_and_skip_what_it_covered() {
    let (out, mut c) = pair().await;
    out.add_link(7);
    // Not live yet: the answer will cover these.
    out.deliver(7, &[ev(1)], false);
    assert!(out.is_empty());
    assert!(out.go_live(7, Some(Bytes::from_static(b"A")), 1, &|| 1, None));
    out.deliver(7, &[ev(1), ev(2), ev(3)], false);
    let l = out.link(7).unwrap();
    assert_eq!((l.delivered, l.live, l.lagging), (3, true, false));
    let mut want = b"A".to_vec();
    want.extend_from_slice(&ev(2).wire);
    want.extend_from_slice(&ev(3).wire);
    assert_eq!(read(&mut c, want.len()).await, want);
}

#[tokio::test]
async fn a_gap_a_reset_or_a_newer_pass_means_lagging() {
    let (out, _c) = pair().await;
    out.add_link(1);
    assert!(out.go_live(1, None, 5, &|| 5, None));
    out.deliver(1, &[ev(7)], false);
    assert!(out.link(1).unwrap().lagging, "gap");
    assert!(out.go_live(1, None, 7, &|| 7, None));
    assert!(!out.lagging());
    out.deliver(1, &[], true);
    assert!(out.lagging(), "reset");
    assert!(out.go_live(1, None, 8, &|| 9, None));
    assert!(out.lagging(), "a pass up to 9 may have skipped it");
    let woken = tokio::time::timeout(std::time::Duration::from_millis(100), out.kick.notified());
    assert!(woken.await.is_ok(), "its task is told to catch up again");
}

#[tokio::test]
async fn a_paused_space_waits_for_its_ack_then_gets_its_events() {
    let (out, mut c) = pair().await;
    out.add_link(3);
    assert!(out.go_live(3, None, 0, &|| 0, None));
    out.pause(3);
    out.deliver(3, &[ev(1)], false);
    assert!(out.is_empty(), "held while the mutation is in flight");
    out.text("ack");
    out.resume(3, Some(&[ev(1), ev(2)]), &|| 2);
    let l = out.link(3).unwrap();
    assert_eq!((l.delivered, l.paused, l.lagging), (2, false, false));
    let mut want = b"\x81\x03ack".to_vec();
    want.extend_from_slice(&ev(1).wire);
    want.extend_from_slice(&ev(2).wire);
    assert_eq!(read(&mut c, want.len()).await, want);
    // A pass beyond what the ring gave, or no ring: catch up later.
    out.pause(3);
    out.resume(3, Some(&[]), &|| 3);
    assert!(out.lagging());
}

#[tokio::test]
async fn bounds() {
    let out = Outbox::new(10, std::time::Duration::ZERO, unbounded());
    out.push(Bytes::from(vec![0u8; 6]));
    assert!(!out.is_full() && !out.has_room());
    out.push(Bytes::from(vec![0u8; 6]));
    assert!(out.is_full());
    assert!(out.stalled_for(std::time::Duration::ZERO));
    // Full: a live event is not queued; the space catches up later.
    out.add_link(1);
    assert!(out.go_live(1, None, 0, &|| 0, None));
    out.deliver(1, &[ev(1)], false);
    assert!(out.lagging());
    assert!(out.is_full());
}

#[tokio::test]
async fn past_a_fair_share_an_answer_waits_for_room_in_the_budget() {
    let (pressure, out) = under_a_1_mib_budget();
    out.add_link(1);
    // Other clients hold the whole budget.
    pressure.add(1 << 20);
    let others = 1 << 20;
    let big = Bytes::from(vec![b'x'; 256 << 10]);
    assert!(
        !out.go_live(1, Some(big.clone()), 5, &|| 5, None),
        "not admitted"
    );
    assert!(out.is_empty(), "nothing queued for it");
    assert!(
        out.link(1).unwrap().lagging,
        "the space lags, to be caught up"
    );
    assert!(!out.link(1).unwrap().live);
    // A small answer fits in a fair share whatever the sum.
    assert!(out.go_live(1, Some(Bytes::from_static(b"small")), 5, &|| 5, None));
    // Live events past a fair share wait in the log too.
    out.deliver(1, &[ev(6)], false);
    let before = out.lock().bytes;
    let events: Vec<_> = (7..)
        .take(1)
        .map(|v| {
            let raw = serde_json::value::RawValue::from_string(format!(
                r#"{{"version":{v},"pad":"{}"}}"#,
                "p".repeat(100 << 10)
            ))
            .unwrap();
            Arc::new(EventRec::new(v, raw))
        })
        .collect();
    out.deliver(1, &events, false);
    assert_eq!(out.lock().bytes, before, "a 100 KiB event is not queued");
    assert!(out.link(1).unwrap().lagging);
    // Once the others' bytes are gone, the same answer is admitted.
    pressure.sub(others);
    assert!(out.go_live(1, Some(big), 7, &|| 7, None));
    drop(out);
}

#[test]
fn an_answer_built_under_a_reservation_is_queued_in_its_place() {
    let (pressure, out) = under_a_1_mib_budget();
    out.add_link(1);
    out.add_link(2);
    // Reserved for a bound of 1.5 MiB (more than the budget) while the sum
    // was free; a second answer asked for meanwhile is not (it would have
    // been built beside it).
    let reserved = out.reserve(1536 << 10).expect("the sum is free");
    assert!(out.reserve(900 << 10).is_none(), "sees the reservation");
    // Built smaller than its bound, it goes in although the sum (with its
    // own reservation) is near the budget, and the bound is given back.
    let built = Bytes::from(vec![b'x'; 300 << 10]);
    assert!(out.go_live(1, Some(built), 5, &|| 5, Some(reserved)));
    assert_eq!(pressure.queued(), 300 << 10, "what was built, no more");
    assert!(out.link(1).unwrap().live);
    drop(out);
    assert_eq!(pressure.queued(), 0);
}

/// An outbox of 4 MiB under an all-clients budget of 1 MiB.
fn under_a_1_mib_budget() -> (Arc<Pressure>, Arc<Outbox>) {
    let pressure = Arc::new(Pressure::new(1 << 20));
    let out = Arc::new(Outbox::new(
        4 << 20,
        std::time::Duration::from_secs(10),
        pressure.clone(),
    ));
    (pressure, out)
}
