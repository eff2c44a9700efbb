//! `history`: the cost of one write in a space with a short history (100
//! events) against one with a long history (100,000 events). Both spaces are
//! filled first (100-op mutations), then written alternately, one write at a
//! time, so machine noise hits both alike.

use std::sync::Arc;

use tokio::time::Instant;

use crate::client::{self, Writer};
use crate::fleet::{Ctx, USER};
use crate::stats::{Report, ServerWatch, brief, hist, summary};

/// Writes `events` events into the writer's space, 100 documents per mutation.
async fn fill(w: &mut Writer, events: u64, ctx: &Ctx) -> Result<u64, String> {
    let mut version = 0;
    let mut k = 0u64;
    while version < events {
        if Instant::now() >= ctx.deadline {
            return Err("deadline reached while filling history".into());
        }
        k += 1;
        let n = (events - version).min(100);
        let ops: Vec<String> = (0..n)
            .map(|d| {
                format!(
                    r#"{{"op":"put","collection":"fill","id":"d{d}","value":{{"k":{k},"pad":"history of the space"}}}}"#
                )
            })
            .collect();
        let ops = format!("[{}]", ops.join(","));
        let ack = w.mutate("user:me", |_| ops).await?;
        if ack.version != version + n {
            return Err(format!(
                "fill: expected version {} after {n} changes, got {}",
                version + n,
                ack.version
            ));
        }
        version = ack.version;
    }
    Ok(version)
}

pub async fn drive(ctx: &Arc<Ctx>) -> Result<Report, String> {
    let a = &ctx.args;
    let small = a.small;
    let large = a.pick(a.large, 100_000, 2_000);
    let samples = a.pick(a.samples, 2_000, 100);
    let mut r = Report::new();
    r.set("small", small);
    r.set("large", large);
    r.set("samples", samples);
    let mut ws = Vec::new();
    for (i, _) in [small, large].iter().enumerate() {
        let token = ctx.token(&ctx.user(i), USER)?;
        ws.push(
            Writer::open(
                &ctx.target,
                &ctx.sources,
                &token,
                format!("lb-{}-h{i}", ctx.run),
                ctx.args.conn_rate,
            )
            .await?,
        );
    }
    let t = Instant::now();
    let mut heads = [0u64; 2];
    let (a0, a1) = ws.split_at_mut(1);
    let (f0, f1) = tokio::join!(fill(&mut a0[0], small, ctx), fill(&mut a1[0], large, ctx));
    heads[0] = f0?;
    heads[1] = f1?;
    let fill_s = t.elapsed().as_secs_f64();
    r.set("fill_s", (fill_s * 100.0).round() / 100.0);
    r.set(
        "fill_events_per_s",
        ((small + large) as f64 / fill_s).round(),
    );
    let server = ServerWatch::start(ctx.args.pid);
    let mut h = [hist(), hist()];
    for s in 0..samples {
        if Instant::now() >= ctx.deadline {
            r.error("deadline reached while measuring");
            break;
        }
        // Alternate which space goes first.
        let order = if s % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let extra = format!(r#","s":{s}"#);
            match ws[i]
                .mutate("user:me", |t| client::put_stamped("bench", "h", t, &extra))
                .await
            {
                Ok(ack) => {
                    h[i].saturating_record(ack.latency_us.max(1));
                    if ack.version != heads[i] + 1 {
                        if ack.version <= heads[i] {
                            r.dups += 1;
                        } else {
                            r.gaps += ack.version - heads[i] - 1;
                        }
                    }
                    heads[i] = ack.version;
                }
                Err(e) => r.error(e),
            }
        }
    }
    server.finish(&mut r);
    r.set("client_cpu_s", crate::stats::self_cpu_s());
    let p50 = |h: &hdrhistogram::Histogram<u64>| h.value_at_quantile(0.5).max(1) as f64;
    let ratio = p50(&h[1]) / p50(&h[0]);
    let mean_ratio = h[1].mean() / h[0].mean().max(1.0);
    r.set("small_ms", summary(&h[0]));
    r.set("large_ms", summary(&h[1]));
    crate::stats::per_op(&mut r, "server_us_per_write", h[0].len() + h[1].len());
    r.set("ratio_p50", (ratio * 1000.0).round() / 1000.0);
    r.set("ratio_mean", (mean_ratio * 1000.0).round() / 1000.0);
    r.line(format!(
        "history: filled {small} and {large} events in {fill_s:.1} s; {samples} writes each, alternating"
    ));
    r.line(format!("  {small:>7} events: {}", brief(&h[0])));
    r.line(format!("  {large:>7} events: {}", brief(&h[1])));
    r.line(format!(
        "  ratio large/small: p50 {ratio:.3}, mean {mean_ratio:.3} (target <= 1.2)"
    ));
    Ok(r)
}
