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

/// A user id as it may appear in `user:{id}` (and as a team member's id):
/// printable, no whitespace, and none of the separators of space names.
pub fn valid_user_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == ':' || c == '/')
}

/// A team id as it appears in `team:{id}`: what the server generates
/// (letters, digits, `-`, `_`), at most 64 characters.
pub fn valid_team_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Members of a team space (`team.rs`): id = user id, value `{"role": ...}`.
pub const MEMBERS: &str = "_members";

/// The user a committed event removes from its team (a `_members`
/// document deleted), read from the event's JSON.
pub fn revokes(event_json: &str) -> Option<Box<str>> {
    // Cheap test first: almost no event is one.
    if !event_json.contains("\"_members\"") {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Ev<'a> {
        op: &'a str,
        collection: &'a str,
        id: String,
        space: &'a str,
    }
    let ev: Ev = serde_json::from_str(event_json).ok()?;
    (ev.op == "delete" && ev.collection == MEMBERS && team_of(ev.space).is_some())
        .then(|| ev.id.into_boxed_str())
}

/// The team of a (resolved) space name, when it is a team space.
pub fn team_of(space: &str) -> Option<&str> {
    space.strip_prefix("team:").filter(|id| valid_team_id(id))
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
            _ if team_of(space).is_some() => Ok(space.to_string()),
            _ => Err(EngineError::NotFound(format!(
                "`{space}` is not a space (use `user:me`, `user:{{id}}`, `team:{{id}}` or `catalog`)"
            ))),
        }
    }

    fn owns(&self, space: &str) -> bool {
        self.role == Role::Service || space.strip_prefix("user:") == Some(self.user.as_str())
    }

    /// What the token alone allows. A team space's members are in the
    /// space itself: only `Engine::readable` / the commit decide for them,
    /// so here a team space is readable and writable by services alone.
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

    /// Resolve and check read access by the token alone (team spaces:
    /// services only; everyone else goes through `Engine::readable`); the
    /// error says nothing about the space.
    pub fn readable(&self, space: &str) -> Result<String, EngineError> {
        let s = self.resolve(space)?;
        if self.can_read(&s) {
            Ok(s)
        } else {
            Err(forbidden(&s))
        }
    }

    /// Resolve and check write access. A team space passes here: whether
    /// this caller may write it is decided at commit, under the space's
    /// writer lock, against the members the commit is based on (`team.rs`).
    pub fn writable(&self, space: &str) -> Result<String, EngineError> {
        let s = self.resolve(space)?;
        if self.can_write(&s) || team_of(&s).is_some() {
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
