//! Who may touch which space (docs/architecture.md, "Guarantees").

use super::EngineError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Admin,
    /// Back-end services: read and write every user space.
    Service,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: String,
    pub role: Role,
}

pub const CATALOG: &str = "catalog";

/// A user id as it may appear in `user:{id}`.
pub fn valid_user_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128 && !id.chars().any(|c| c.is_control() || c.is_whitespace())
}

impl Principal {
    /// Resolves aliases (`user:me`) and checks the name is a space at all.
    pub fn resolve(&self, space: &str) -> Result<String, EngineError> {
        if space == CATALOG {
            return Ok(CATALOG.to_string());
        }
        match space.strip_prefix("user:") {
            Some("me") => Ok(format!("user:{}", self.user)),
            Some(id) if valid_user_id(id) => Ok(space.to_string()),
            _ => Err(EngineError::NotFound(format!(
                "`{space}` is not a space (use `user:me`, `user:{{id}}` or `catalog`)"
            ))),
        }
    }

    fn owns(&self, space: &str) -> bool {
        self.role == Role::Service || space.strip_prefix("user:") == Some(self.user.as_str())
    }

    pub fn can_read(&self, space: &str) -> bool {
        space == CATALOG || self.owns(space)
    }

    pub fn can_write(&self, space: &str) -> bool {
        if space == CATALOG {
            self.role == Role::Admin
        } else {
            self.owns(space)
        }
    }

    /// Resolve and check read access; the error says nothing about the space.
    pub fn readable(&self, space: &str) -> Result<String, EngineError> {
        let s = self.resolve(space)?;
        if self.can_read(&s) {
            Ok(s)
        } else {
            Err(forbidden(&s))
        }
    }

    pub fn writable(&self, space: &str) -> Result<String, EngineError> {
        let s = self.resolve(space)?;
        if self.can_write(&s) {
            Ok(s)
        } else {
            Err(forbidden(&s))
        }
    }
}

fn forbidden(space: &str) -> EngineError {
    if space == CATALOG {
        EngineError::Forbidden("only an admin may write the catalog".into())
    } else {
        EngineError::Forbidden("this token may not access that space".into())
    }
}
