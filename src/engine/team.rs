//! Team spaces (`team:{id}`): spaces several users share.
//!
//! A team's members live in the team space itself, in the reserved
//! collection `_members` (document id = user id, value `{"role": ...}`),
//! and its name in `_team/info`. So membership is durable like every
//! document, its changes are events every member's tab sees, a node learns
//! of them as it learns of any commit, and — the point — whether a write
//! may land is decided under the space's writer lock against the very
//! members the commit is based on: a removal and a write race to one
//! order, never to a write by someone already removed. Clients cannot write
//! the reserved collections; the teams API writes them as trusted
//! mutations (`http/teams.rs`).
//!
//! Reading is decided here too (`Engine::readable`), for every transport;
//! what a reader was already sent is cut at the event that removed it
//! (`EventRec::revokes`).

use serde::{Deserialize, Serialize};

use super::access::{Principal, Role, team_of};
use super::apply::{Change, Rejection};
use super::space::SpaceData;
use super::{Engine, EngineError};
use crate::protocol::RejectCode;

pub use super::access::{MEMBERS, revokes};
/// The team's own document (`info`: name, who created it, when).
pub const INFO: &str = "_team";

/// A member's role; ordered: `viewer` < `editor` < `owner`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TeamRole {
    Viewer,
    Editor,
    Owner,
}

impl TeamRole {
    pub fn can_write(self) -> bool {
        self >= TeamRole::Editor
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TeamRole::Viewer => "viewer",
            TeamRole::Editor => "editor",
            TeamRole::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Option<TeamRole> {
        match s {
            "viewer" => Some(TeamRole::Viewer),
            "editor" => Some(TeamRole::Editor),
            "owner" => Some(TeamRole::Owner),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct MemberDoc {
    role: TeamRole,
}

fn role_of(value: &serde_json::value::RawValue) -> Option<TeamRole> {
    serde_json::from_str::<MemberDoc>(value.get())
        .ok()
        .map(|m| m.role)
}

/// `user`'s role in a team space's data; `None`: not a member.
pub fn role_in(d: &SpaceData, user: &str) -> Option<TeamRole> {
    let v = d.docs.get(MEMBERS)?.get(user)?.value.as_ref()?;
    role_of(v)
}

/// Every member with their role, in user id order.
pub fn members(d: &SpaceData) -> Vec<(String, TeamRole)> {
    d.docs
        .get(MEMBERS)
        .map(|col| {
            col.iter()
                .filter_map(|(id, e)| Some((id.clone(), role_of(e.value.as_ref()?)?)))
                .collect()
        })
        .unwrap_or_default()
}

/// The members a user reaches a team space as: `Some(role)` or not at all.
/// Services reach every team (back-end publishers), as every user space.
fn reaches(who: &Principal, d: &SpaceData) -> Option<TeamRole> {
    if who.role == Role::Service {
        return Some(TeamRole::Owner);
    }
    role_in(d, &who.user)
}

/// Whether a commit of `changes` to team space `d` may land: a client
/// (`trusted` false) must be an editor or owner of the members the commit
/// is based on and may not touch the reserved collections; and no commit,
/// the teams API's included, may leave the team without an owner.
pub(crate) fn check_commit(
    who: &Principal,
    d: &SpaceData,
    changes: &[Change],
    trusted: bool,
) -> Result<(), Rejection> {
    if !trusted {
        match reaches(who, d) {
            Some(r) if r.can_write() => {}
            Some(_) => {
                return Err(Rejection::new(
                    RejectCode::Forbidden,
                    "viewers may read this team space but not write it",
                ));
            }
            None => {
                return Err(Rejection::new(
                    RejectCode::Forbidden,
                    "this token may not access that space",
                ));
            }
        }
        if changes.iter().any(|c| c.collection.starts_with('_')) {
            return Err(Rejection::new(
                RejectCode::Forbidden,
                "collections starting with `_` hold the team's members and name: use /v1/teams",
            ));
        }
    }
    if changes.iter().any(|c| c.collection == MEMBERS) {
        let mut owners: std::collections::BTreeSet<&str> = members_ref(d)
            .filter(|(_, r)| *r == TeamRole::Owner)
            .map(|(u, _)| u)
            .collect();
        for c in changes.iter().filter(|c| c.collection == MEMBERS) {
            match c.value.as_deref().and_then(role_of) {
                Some(TeamRole::Owner) => owners.insert(&c.id),
                _ => owners.remove(c.id.as_str()),
            };
        }
        if owners.is_empty() {
            return Err(Rejection::new(
                RejectCode::Conflict,
                "a team keeps at least one owner: make someone else owner first",
            ));
        }
    }
    Ok(())
}

fn members_ref(d: &SpaceData) -> impl Iterator<Item = (&str, TeamRole)> {
    d.docs.get(MEMBERS).into_iter().flat_map(|col| {
        col.iter()
            .filter_map(|(id, e)| Some((id.as_str(), role_of(e.value.as_ref()?)?)))
    })
}

impl Engine {
    /// The one read-access decision every transport asks (HTTP reads,
    /// WebSocket and SSE subscriptions, catch-ups, long polls): resolves
    /// aliases, then the token decides user spaces and the catalog, and a
    /// team's members decide its space. A non-member learns nothing, not
    /// even whether the team exists.
    pub async fn readable(&self, who: &Principal, space: &str) -> Result<String, EngineError> {
        let name = who.resolve(space)?;
        if team_of(&name).is_none() {
            return who.readable(&name);
        }
        if who.role == Role::Service {
            return Ok(name);
        }
        if self.team_role(who, &name).await?.is_some() {
            Ok(name)
        } else {
            Err(EngineError::Forbidden(
                "this token may not access that space".into(),
            ))
        }
    }

    /// `who`'s role in team space `name` (`None`: not a member). A node
    /// that does not see the member yet reads the store once before saying
    /// no (another node may just have added them).
    pub async fn team_role(
        &self,
        who: &Principal,
        name: &str,
    ) -> Result<Option<TeamRole>, EngineError> {
        let space = self.space(name).await?;
        if let Some(r) = reaches(who, &space.read()) {
            return Ok(Some(r));
        }
        self.catch_up_with_store(name).await?;
        let space = self.space(name).await?;
        let r = reaches(who, &space.read());
        Ok(r)
    }

    /// Every member of team space `name`, for a caller who may read it.
    pub async fn team_members(
        &self,
        who: &Principal,
        name: &str,
    ) -> Result<Vec<(String, TeamRole)>, EngineError> {
        let name = self.readable(who, name).await?;
        let space = self.space(&name).await?;
        let m = members(&space.read());
        Ok(m)
    }
}

/// What a catch-up may give a reader of a team space.
impl Engine {
    /// `catch_up_within`, cut for `who`: in a team space, events stop at
    /// the one that removed `who` (then `true`: the reader is to be told
    /// `revoked` and dropped), and a snapshot taken after the removal is
    /// refused (`Forbidden`), so no version committed after a removal ever
    /// reaches the removed member, whatever path it takes.
    pub async fn catch_up_as(
        &self,
        who: &Principal,
        space: &super::space::Space,
        cursor: Option<&crate::protocol::Cursor>,
        max_bytes: usize,
    ) -> Result<(crate::protocol::CatchUp, bool), EngineError> {
        use crate::protocol::CatchUp;
        let answer = self.catch_up_within(space, cursor, max_bytes).await?;
        if team_of(&space.name).is_none() || who.role == Role::Service {
            return Ok((answer, false));
        }
        match answer {
            CatchUp::Snapshot { docs, .. }
                if !docs
                    .iter()
                    .any(|d| d.collection == MEMBERS && d.id == who.user) =>
            {
                Err(EngineError::Forbidden(
                    "this token may not access that space".into(),
                ))
            }
            CatchUp::Events {
                epoch,
                from,
                to,
                mut events,
            } => {
                let cut = events
                    .iter()
                    .position(|e| revokes(e.0.get()).as_deref() == Some(who.user.as_str()));
                match cut {
                    Some(k) => {
                        events.truncate(k + 1);
                        let to = from + events.len() as u64;
                        Ok((
                            CatchUp::Events {
                                epoch,
                                from,
                                to,
                                events,
                            },
                            true,
                        ))
                    }
                    None => Ok((
                        CatchUp::Events {
                            epoch,
                            from,
                            to,
                            events,
                        },
                        false,
                    )),
                }
            }
            other => Ok((other, false)),
        }
    }
}

/// Whether event `ev` removes reader `user` (`None`: a reader never removed,
/// such as a service).
pub fn removes(ev: &super::space::EventRec, user: Option<&str>) -> bool {
    matches!((ev.revokes.as_deref(), user), (Some(r), Some(u)) if r == u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_parsed() {
        assert!(TeamRole::Owner > TeamRole::Editor && TeamRole::Editor > TeamRole::Viewer);
        assert!(!TeamRole::Viewer.can_write() && TeamRole::Editor.can_write());
        for r in [TeamRole::Viewer, TeamRole::Editor, TeamRole::Owner] {
            assert_eq!(TeamRole::parse(r.as_str()), Some(r));
        }
        assert_eq!(TeamRole::parse("admin"), None);
    }

    #[test]
    fn a_removal_event_names_the_removed_user() {
        let del = r#"{"space":"team:t1","version":4,"op":"delete","collection":"_members","id":"bob","value":null}"#;
        assert_eq!(revokes(del).as_deref(), Some("bob"));
        let up = r#"{"space":"team:t1","version":4,"op":"upsert","collection":"_members","id":"bob","value":{"role":"viewer"}}"#;
        assert_eq!(revokes(up), None, "a lowered role keeps reading");
        let other = r#"{"space":"user:a","version":4,"op":"delete","collection":"_members","id":"bob","value":null}"#;
        assert_eq!(revokes(other), None, "only team spaces have members");
    }
}
