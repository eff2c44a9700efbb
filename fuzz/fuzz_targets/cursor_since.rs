//! Every text a client names a position with: a cursor `EPOCH:VERSION` (SSE
//! `?cursor=` and `Last-Event-ID`, ETags), chat history's `?since=` (a
//! version or an ISO 8601 time), its opaque page cursor, and the dates the
//! usage routes take. Each parses what it formats back to the same value.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use tidemark::domain::chat::view::{Cursor as PageCursor, Since};
use tidemark::domain::dates::{
    civil_from_days, days_from_civil, format_day, parse_day, parse_instant_ms,
};
use tidemark::protocol::Cursor;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = Cursor::parse(s) {
        let text = c.to_string();
        assert_eq!(Cursor::parse(&text), Ok(c.clone()), "{text}");
        assert!(s.starts_with(&c.epoch));
    }
    match Since::parse(s) {
        Some(Since::Version(v)) => assert_eq!(s.parse::<u64>(), Ok(v)),
        Some(Since::Time { text, ms }) => {
            assert_eq!(text, s);
            assert_eq!(parse_instant_ms(s), Some(ms));
            instant_round_trips(ms);
        }
        None => assert!(s.parse::<u64>().is_err() && parse_instant_ms(s).is_none()),
    }
    if let Some(day) = parse_day(s) {
        let (y, m, d) = civil_from_days(day);
        assert_eq!(days_from_civil(y, m, d), day);
        assert_eq!(parse_day(&format_day(day)), Some(day), "{s}");
    }
    if let Some(c) = PageCursor::decode(s) {
        assert_eq!(PageCursor::decode(&c.encode()), Some(c));
    }
});

/// An instant in 1970..9999 printed as JavaScript's `toISOString` does
/// reads back as the same millisecond.
fn instant_round_trips(ms: i128) {
    // Four characters of year (-999 to 9999), moved by less than a day by
    // a zone or a leap second.
    let day = 86_400_000;
    let first = i128::from(days_from_civil(-999, 1, 1)) * day;
    let end = i128::from(days_from_civil(10_000, 1, 1)) * day;
    assert!((first - day..end + day).contains(&ms), "{ms}");
    if !(0..end).contains(&ms) {
        return;
    }
    let at = UNIX_EPOCH + Duration::from_millis(ms as u64);
    let text = humantime::format_rfc3339_millis(at).to_string();
    assert_eq!(parse_instant_ms(&text), Some(ms), "{text}");
}
