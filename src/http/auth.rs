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
}

fn default_role() -> Role {
    Role::User
}

pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    audience: Option<String>,
}

impl Auth {
    pub fn new(secret: &[u8], audience: Option<String>) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        match &audience {
            Some(a) => validation.set_audience(&[a]),
            None => validation.validate_aud = false,
        }
        Auth {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            audience,
        }
    }

    /// Checks a token; the error message never contains the token.
    pub fn verify(&self, token: &str) -> Result<Principal, String> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => "token expired".to_string(),
                ErrorKind::ImmatureSignature => "token not yet valid".to_string(),
                ErrorKind::InvalidAudience => "token has the wrong audience".to_string(),
                ErrorKind::InvalidSignature => "token signature is invalid".to_string(),
                ErrorKind::MissingRequiredClaim(c) => format!("token lacks the `{c}` claim"),
                _ => "token is malformed".to_string(),
            }
        })?;
        let c = data.claims;
        if !valid_user_id(&c.sub) {
            return Err("token `sub` is not a valid user id".into());
        }
        Ok(Principal {
            user: c.sub,
            role: c.role,
        })
    }

    /// Seconds until the token expires (for WebSocket expiry), if it verifies.
    pub fn expiry(&self, token: &str) -> Option<u64> {
        decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|d| d.claims.exp)
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
