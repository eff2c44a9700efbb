//! Calendar days without a date crate: days since 1970-01-01 (UTC) and back.

use std::time::{SystemTime, UNIX_EPOCH};

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `(year, month, day)` of a day number.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The day of `2026-12-01`, or of the date part of an RFC 3339 time.
pub fn parse_day(s: &str) -> Option<i64> {
    // Byte offsets below: anything but ASCII is not a date (and must not
    // split a character).
    if !s.is_ascii() {
        return None;
    }
    let date = s.get(..10)?;
    let rest = &s[10..];
    if !rest.is_empty() && humantime::parse_rfc3339_weak(s).is_err() {
        return None;
    }
    let b = date.as_bytes();
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = date[..4].parse().ok()?;
    let m: u32 = date[5..7].parse().ok()?;
    let d: u32 = date[8..10].parse().ok()?;
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Epoch milliseconds of an ISO 8601 / RFC 3339 time as JavaScript's
/// `Date.toISOString()` writes it (`2026-11-20T09:00:00.000Z`), with an
/// offset (`+02:00`, `-0500`) or without fraction; a bare date is its
/// midnight UTC. A time without a zone is refused: it is ambiguous.
pub fn parse_instant_ms(s: &str) -> Option<i128> {
    if !s.is_ascii() {
        return None;
    }
    let day = i128::from(parse_day(s.get(..10)?)?);
    let rest = &s[10..];
    if rest.is_empty() {
        return Some(day * 86_400_000);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let b = rest.as_bytes();
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return None;
    }
    let num = |r: &str| -> Option<i128> {
        r.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| r.parse().ok())?
    };
    let (h, mi, sec) = (num(&rest[..2])?, num(&rest[3..5])?, num(&rest[6..8])?);
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &rest[8..];
    let mut ms = 0i128;
    if let Some(frac) = rest.strip_prefix(['.', ',']) {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let digits = format!("{:0<3}", &frac[..n.min(3)]);
        ms = num(&digits)?;
        rest = &frac[n..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                // A `+` left unescaped in a query string arrives as a space.
                b'+' | b' ' => 1,
                b'-' => -1,
                _ => return None,
            };
            let tz = rest[1..].replace(':', "");
            if tz.len() != 4 {
                return None;
            }
            let (oh, om) = (num(&tz[..2])?, num(&tz[2..])?);
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 60 + om)
        }
    };
    Some(day * 86_400_000 + ((h * 60 + mi - offset_min) * 60 + sec) * 1000 + ms)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `2026-12-01`.
pub fn format_day(z: i64) -> String {
    let (y, m, d) = civil_from_days(z);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Today (UTC) as a day number.
pub fn today() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    (secs / 86_400) as i64
}

/// Now as RFC 3339 UTC with seconds (`2026-11-21T10:30:00Z`).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(parse_day("2024-03-01"), Some(days_from_civil(2024, 3, 1)));
        assert_eq!(
            parse_day("2024-02-29").map(format_day).as_deref(),
            Some("2024-02-29")
        );
        for z in [-1000, 0, 19_000, 20_819, 60_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn instants_as_clients_write_them() {
        let t = parse_instant_ms("2026-11-20T09:00:00.000Z").unwrap();
        assert_eq!(
            t,
            i128::from(days_from_civil(2026, 11, 20)) * 86_400_000 + 9 * 3_600_000
        );
        assert_eq!(parse_instant_ms("2026-11-20T09:00:00Z"), Some(t));
        assert_eq!(parse_instant_ms("2026-11-20T11:00:00+02:00"), Some(t));
        assert_eq!(parse_instant_ms("2026-11-20T11:00:00 02:00"), Some(t));
        assert_eq!(parse_instant_ms("2026-11-20T04:00:00-0500"), Some(t));
        assert_eq!(parse_instant_ms("2026-11-20T09:00:00.5Z"), Some(t + 500));
        assert_eq!(
            parse_instant_ms("2026-11-20T09:00:00.123456Z"),
            Some(t + 123)
        );
        assert_eq!(parse_instant_ms("2026-11-20"), Some(t - 9 * 3_600_000));
        for bad in [
            "2026-11-20T09:00:00",
            "2026-11-20T25:00:00Z",
            "yesterday",
            "17",
            "2026-11-20T09:00Z",
        ] {
            assert_eq!(parse_instant_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn bad_dates_are_refused() {
        for s in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "tomorrow",
            "2024-01-01Tx",
        ] {
            assert_eq!(parse_day(s), None, "{s}");
        }
        assert!(parse_day("2026-12-01T10:00:00Z").is_some());
    }
}
