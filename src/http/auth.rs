//! HS256 bearer tokens: `sub` = user id, `role` = user | admin | service.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use crate::engine::{Principal, Role, valid_user_id};

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default = "default_role")]
    pub role: Role,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
}

fn default_role() -> Role {
    Role::User
}

/// Verifies tokens signed with the current secret or one of the previous
/// ones (rotation: tokens signed before it keep working until they expire),
/// and signs with the current one.
pub struct Auth {
    encoding: EncodingKey,
    /// The current secret's key first, then the previous ones.
    decoding: Vec<DecodingKey>,
    validation: Validation,
    audience: Option<String>,
    issuer: Option<String>,
}

impl Auth {
    /// `audience`, when set, is required in every token (`aud`).
    pub fn new(secret: &[u8], audience: Option<String>) -> Self {
        Auth {
            encoding: EncodingKey::from_secret(secret),
            decoding: vec![DecodingKey::from_secret(secret)],
            validation: Validation::new(Algorithm::HS256),
            audience,
            issuer: None,
        }
        .validating()
    }

    /// Requires `iss` to be `issuer` (and mints tokens with it).
    pub fn with_issuer(mut self, issuer: Option<String>) -> Self {
        self.issuer = issuer;
        self.validating()
    }

    /// Also accepts tokens signed with these secrets (never signs with them).
    pub fn with_previous<'a>(mut self, secrets: impl IntoIterator<Item = &'a [u8]>) -> Self {
        self.decoding
            .extend(secrets.into_iter().map(DecodingKey::from_secret));
        self
    }

    fn validating(mut self) -> Self {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 5;
        v.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match &self.audience {
            Some(a) => {
                v.set_audience(&[a]);
                required.push("aud");
            }
            None => v.validate_aud = false,
        }
        if let Some(i) = &self.issuer {
            v.set_issuer(&[i]);
            required.push("iss");
        }
        v.set_required_spec_claims(&required);
        self.validation = v;
        self
    }

    fn decode(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let mut last = None;
        for key in &self.decoding {
            match decode::<Claims>(token, key, &self.validation) {
                Ok(d) => return Ok(d.claims),
                Err(e) if *e.kind() == jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                    last = Some(e)
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| jsonwebtoken::errors::ErrorKind::InvalidSignature.into()))
    }

    /// Checks a token; the error message never contains the token.
    pub fn verify(&self, token: &str) -> Result<Principal, String> {
        let c = self.decode(token).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            let (reason, message) = match e.kind() {
                ErrorKind::ExpiredSignature => ("expired", "token expired".to_string()),
                ErrorKind::ImmatureSignature => {
                    ("not_yet_valid", "token not yet valid".to_string())
                }
                ErrorKind::InvalidAudience => {
                    ("audience", "token has the wrong audience".to_string())
                }
                ErrorKind::InvalidIssuer => ("issuer", "token has the wrong issuer".to_string()),
                ErrorKind::InvalidSignature => {
                    ("signature", "token signature is invalid".to_string())
                }
                ErrorKind::MissingRequiredClaim(c) => {
                    ("missing_claim", format!("token lacks the `{c}` claim"))
                }
                _ => ("malformed", "token is malformed".to_string()),
            };
            crate::obs::auth_failure(reason);
            message
        })?;
        if !valid_user_id(&c.sub) {
            crate::obs::auth_failure("bad_subject");
            return Err("token `sub` is not a valid user id".into());
        }
        Ok(Principal {
            user: c.sub,
            role: c.role,
        })
    }

    /// Seconds until the token expires (for WebSocket expiry), if it verifies.
    pub fn expiry(&self, token: &str) -> Option<u64> {
        self.decode(token).ok().map(|c| c.exp)
    }

    pub fn mint(&self, user: &str, role: Role, ttl_secs: u64) -> Result<(String, u64), String> {
        let now = now_secs();
        let claims = Claims {
            sub: user.to_string(),
            role,
            exp: now + ttl_secs,
            iat: Some(now),
            nbf: None,
            aud: self.audience.clone(),
            iss: self.issuer.clone(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map(|t| (t, claims.exp))
            .map_err(|e| format!("could not sign token: {e}"))
    }
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The instant a token that expires at `expires_at` (Unix seconds) ends, for
/// the streams it opened.
pub fn expiry_instant(expires_at: u64) -> tokio::time::Instant {
    let left = expires_at.saturating_sub(now_secs());
    tokio::time::Instant::now() + std::time::Duration::from_secs(left.min(365 * 24 * 3600))
}
