//! Bearer tokens (`http::auth::Auth::verify`, what every transport calls):
//! any string, and tokens signed with the right, a previous or a wrong
//! secret around arbitrary claims. A token is accepted exactly when it is
//! signed with a secret the server holds and its claims are good.
#![no_main]

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use libfuzzer_sys::arbitrary::{self, Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tidemark::engine::{Role, valid_user_id};
use tidemark::http::auth::{Auth, now_secs};
use tidemark_fuzz::Json;

const SECRET: &[u8] = b"fuzz-secret-0123456789abcdef";
const PREVIOUS: &[u8] = b"fuzz-previous-secret-0123456789";
const OTHER: &[u8] = b"not-a-secret-of-this-server-0123";
const AUDIENCE: &str = "tidemark";
const ISSUER: &str = "https://issuer.example";

/// Every error `Auth::verify` answers but a missing claim's.
const KNOWN_ERRORS: [&str; 7] = [
    "token expired",
    "token not yet valid",
    "token has the wrong audience",
    "token has the wrong issuer",
    "token signature is invalid",
    "token is malformed",
    "token `sub` is not a valid user id",
];

#[derive(Debug, Arbitrary)]
enum Claim {
    Absent,
    Good,
    Other(Json),
}

#[derive(Debug, Arbitrary)]
struct Input {
    /// Sent as it is.
    raw: String,
    /// Whether the server requires an audience and an issuer.
    audience: bool,
    issuer: bool,
    /// 0: the current secret, 1: a previous one, else a foreign one.
    key: u8,
    /// Claims besides the ones below (dropped unless an object).
    extra: Json,
    sub: Claim,
    role: Claim,
    /// Seconds from now; `None`: no `exp`.
    exp: Option<i32>,
    nbf: Option<i32>,
    aud: Claim,
    iss: Claim,
    /// A header algorithm other than HS256.
    other_alg: bool,
}

fn shift(now: u64, by: i32) -> u64 {
    now.saturating_add_signed(i64::from(by))
}

/// Whether a time claim `by` seconds from now passes, `None` within the
/// leeway (5 s) and the test's own second, where either answer is right.
fn in_time(by: i32, late_ok: bool) -> Option<bool> {
    match (late_ok, by) {
        (true, 0..) | (false, ..=0) => Some(true),
        (true, ..-10) | (false, 11..) => Some(false),
        _ => None,
    }
}

/// The claims as JSON, and what the server must answer: `Some(Some(who))`
/// accepts, `Some(None)` refuses, `None` either.
#[allow(clippy::type_complexity)]
fn claims(i: &Input, now: u64) -> (Value, Option<Option<(String, Role)>>) {
    let mut c = match &i.extra.0 {
        Value::Object(m) => m.clone(),
        _ => Default::default(),
    };
    for k in ["sub", "role", "aud", "iss", "exp", "nbf", "iat"] {
        c.remove(k);
    }
    let mut value = |key: &str, claim: &Claim, good: Value| {
        let v = match claim {
            Claim::Absent => return None,
            Claim::Good => good,
            Claim::Other(v) => v.0.clone(),
        };
        c.insert(key.to_string(), v.clone());
        Some(v)
    };
    let sub = value("sub", &i.sub, json!("alice"));
    let user = sub
        .as_ref()
        .and_then(Value::as_str)
        .filter(|s| valid_user_id(s));
    let role = match value("role", &i.role, json!("admin")) {
        None => Some(Role::User),
        Some(v) => serde_json::from_value::<Role>(v).ok(),
    };
    // Checked when required, else only read as an optional string.
    let named = |v: Option<Value>, required: bool, want: &str| match v {
        Some(Value::String(s)) => !required || s == want,
        None | Some(Value::Null) => !required,
        Some(_) => false,
    };
    let aud = named(value("aud", &i.aud, json!(AUDIENCE)), i.audience, AUDIENCE);
    let iss = named(value("iss", &i.iss, json!(ISSUER)), i.issuer, ISSUER);
    for (key, at) in [("exp", i.exp), ("nbf", i.nbf)] {
        if let Some(by) = at {
            c.insert(key.into(), json!(shift(now, by)));
        }
    }
    let exp = i.exp.map_or(Some(false), |by| in_time(by, true));
    let nbf = i.nbf.map_or(Some(true), |by| in_time(by, false));
    let signed = i.key <= 1 && !i.other_alg;
    let verdict = match (exp, nbf) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    };
    let good = verdict.map(|v| v && signed && aud && iss && user.is_some() && role.is_some());
    let who = user.map(str::to_string).zip(role);
    (Value::Object(c), good.map(|g| if g { who } else { None }))
}

fn check(auth: &Auth, token: &str) -> Option<(String, Role)> {
    let verified = auth.verify(token);
    if let Ok(p) = &verified {
        assert!(valid_user_id(&p.user), "{:?}", p.user);
        assert!(
            auth.expiry(token).is_some(),
            "a verified token has an expiry"
        );
    } else if let Err(why) = &verified {
        // Fixed words: never the token, nor any part of it.
        let known = KNOWN_ERRORS.contains(&why.as_str()) || why.starts_with("token lacks the `");
        assert!(known, "error {why:?}");
    }
    verified.ok().map(|p| (p.user, p.role))
}

fn run(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let i = Input::arbitrary(u)?;
    let auth = Auth::new(SECRET, i.audience.then(|| AUDIENCE.to_string()))
        .with_issuer(i.issuer.then(|| ISSUER.to_string()))
        .with_previous([PREVIOUS]);
    check(&auth, &i.raw);
    let now = now_secs();
    let (body, want) = claims(&i, now);
    let secret = [SECRET, PREVIOUS]
        .get(usize::from(i.key))
        .copied()
        .unwrap_or(OTHER);
    let alg = if i.other_alg {
        Algorithm::HS384
    } else {
        Algorithm::HS256
    };
    let token =
        encode(&Header::new(alg), &body, &EncodingKey::from_secret(secret)).expect("claims sign");
    let got = check(&auth, &token);
    if let Some(want) = want {
        assert_eq!(got, want, "claims {body}");
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
