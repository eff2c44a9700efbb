//! `team`: the fan-out of one team space to its members, first quiet, then
//! with presence churn beside it (issue 21). A user creates a team whose
//! members are the subscribers' users; `fanout` runs against the team space
//! (a service writes it), once as is and once while a tenth of the members
//! hold presence connections (`presence_set`) and reconnect at 10% of the
//! members per minute, each reconnect a leave and a join sent to every
//! subscriber. Reports both runs' deliveries per second and their ratio
//! (target: presence must not halve fan-out), and what the churn sent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{self, In};
use crate::fleet::{Ctx, USER, user_of};
use crate::stats::Report;

pub async fn drive(ctx: &Arc<Ctx>) -> Result<Report, String> {
    let p = crate::fanout::params(ctx);
    let members = p.n.div_ceil(p.per_user.max(1));
    let owner = ctx.token(&ctx.user(usize::MAX - 1), USER)?;
    let http = reqwest::Client::new();
    let base = &ctx.target.base;
    let made: Value = http
        .post(format!("{base}/v1/teams"))
        .bearer_auth(&owner)
        .json(&json!({"name": format!("lb-{}", ctx.run)}))
        .send()
        .await
        .map_err(|e| format!("create team: {e}"))?
        .json()
        .await
        .map_err(|e| format!("create team: {e}"))?;
    let id = made["id"].as_str().ok_or(format!("create team: {made}"))?;
    let space = format!("team:{id}");
    let added = futures::stream::iter(0..members)
        .map(|u| {
            let (http, owner) = (http.clone(), owner.clone());
            let url = format!("{base}/v1/teams/{id}/members/{}", ctx.user(u));
            async move {
                let r = http
                    .put(url)
                    .bearer_auth(owner)
                    .json(&json!({"role": "viewer"}))
                    .send()
                    .await;
                r.is_ok_and(|r| r.status().is_success())
            }
        })
        .buffer_unordered(16)
        .filter(|ok| futures::future::ready(*ok))
        .count()
        .await;
    if added < members {
        return Err(format!("{} of {members} members added", added));
    }
    ctx.space
        .set(space.clone())
        .map_err(|_| "space already set")?;
    let quiet = crate::fanout::drive(ctx).await?;
    // Presence churn beside the second run.
    let stop = CancellationToken::new();
    let churn = Churn::default();
    let (next_tx, _) = tokio::sync::broadcast::channel::<usize>(64);
    churn.set_bus(next_tx.clone());
    let holders = (members / 10).max(1);
    let mut tasks = Vec::new();
    for h in 0..holders {
        let (ctx, stop, churn, space) = (ctx.clone(), stop.clone(), churn.clone(), space.clone());
        tasks.push(tokio::spawn(async move {
            hold(&ctx, user_of(h, 1), &space, &stop, &churn).await
        }));
    }
    // 10% of the members per minute reconnect: one every `gap`.
    let gap = Duration::from_secs_f64(60.0 / (members as f64 * 0.10).max(1.0));
    let ticker = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut k = 0usize;
            let mut t = tokio::time::interval(gap);
            t.tick().await;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = t.tick() => { let _ = next_tx.send(k % holders); k += 1; }
                }
            }
        })
    };
    // Let the holders join before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let busy = crate::fanout::drive(ctx).await?;
    stop.cancel();
    ticker.abort();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    let mut r = Report::new();
    for (k, v) in [("quiet", &quiet), ("with_presence", &busy)] {
        r.set(k, Value::Object(v.fields.clone()));
        r.gaps += v.gaps;
        r.dups += v.dups;
        r.errors += v.errors;
        r.error_samples.extend(v.error_samples.iter().cloned());
    }
    let rate = |rep: &Report| rep.fields["deliveries_per_s"].as_f64().unwrap_or(0.0);
    let ratio = rate(&busy) / rate(&quiet).max(1.0);
    let reconnects = churn.reconnects.load(Ordering::Relaxed);
    let joins = churn.sets.load(Ordering::Relaxed);
    r.set("members", members);
    r.set("presence_holders", holders);
    r.set("presence_reconnects", reconnects);
    r.set("presence_sets", joins);
    r.set("churn_per_minute_share", 0.10);
    r.set("ratio_with_presence", (ratio * 1000.0).round() / 1000.0);
    if churn.errors.load(Ordering::Relaxed) > 0 {
        r.error(format!(
            "{} presence connections failed",
            churn.errors.load(Ordering::Relaxed)
        ));
    }
    r.line(format!(
        "team: {} subscribers of one team space of {members} members",
        p.n
    ));
    r.line(format!(
        "  quiet: {:.0} deliveries/s; with presence churn ({holders} holders, {reconnects} reconnects, {joins} presence_set, 10% of members/min): {:.0}/s; ratio {ratio:.3} (target >= 0.5)",
        rate(&quiet),
        rate(&busy)
    ));
    r.lines
        .extend(quiet.lines.iter().map(|l| format!("  [quiet] {l}")));
    r.lines
        .extend(busy.lines.iter().map(|l| format!("  [presence] {l}")));
    Ok(r)
}

#[derive(Clone, Default)]
struct Churn {
    reconnects: Arc<AtomicU64>,
    sets: Arc<AtomicU64>,
    errors: Arc<AtomicU64>,
    bus: Arc<std::sync::OnceLock<tokio::sync::broadcast::Sender<usize>>>,
}

impl Churn {
    fn set_bus(&self, tx: tokio::sync::broadcast::Sender<usize>) {
        let _ = self.bus.set(tx);
    }
}

/// One member's presence connection: joins, sets presence, reads (and
/// drops) what comes, and reconnects when its turn comes on the bus.
async fn hold(ctx: &Ctx, user: usize, space: &str, stop: &CancellationToken, churn: &Churn) {
    let Ok(token) = ctx.token(&ctx.user(user), USER) else {
        return;
    };
    let mut turn = 0u64;
    loop {
        if stop.is_cancelled() {
            return;
        }
        let conn = async {
            let mut ws = client::connect(&ctx.target, &ctx.sources, &token).await?;
            client::welcome(&mut ws, Instant::now() + Duration::from_secs(30)).await?;
            let hello = client::hello(&format!("p-{user}-{turn}"), json!({ space: null }));
            client::send(&mut ws, hello).await?;
            let set = json!({"type": "presence_set", "space": space, "state": {"turn": turn}});
            client::send(&mut ws, set.to_string()).await?;
            Ok::<_, String>(ws)
        };
        let mut ws = match conn.await {
            Ok(ws) => ws,
            Err(_) => {
                churn.errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        churn.sets.fetch_add(1, Ordering::Relaxed);
        let mut bus = match churn.bus.get() {
            Some(b) => b.subscribe(),
            None => tokio::sync::broadcast::channel(1).1,
        };
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                m = client::next_text(&mut ws) => {
                    if let In::Closed(_) = m {
                        break;
                    }
                }
                t = bus.recv() => match t {
                    Ok(k) if k == user => {
                        churn.reconnects.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => {}
                },
            }
        }
        drop(ws);
        turn += 1;
    }
}
