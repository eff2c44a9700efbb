//! The engine's validator (`EngineConfig.validator`): every changed document
//! of every mutation passes here, whatever the transport (REST, `/v1/sync`,
//! WebSocket, the façades), so a bad theme or a malformed model spec is
//! refused with `invalid` however it is written.

use serde_json::Value;

use super::check::FieldError;
use super::{catalog, chat, prefs, settings};
use crate::engine::{CATALOG, ChangeContext};

/// Collections in user spaces that only the server writes.
pub const SERVER_OWNED: [&str; 2] = [prefs::LOCKBOX, chat::USAGE];

pub fn validate(ctx: &ChangeContext<'_>) -> Result<(), String> {
    let user_space = ctx.space != CATALOG;
    if user_space && !ctx.trusted && SERVER_OWNED.contains(&ctx.collection) {
        return Err(format!(
            "{} documents are written by the server only",
            ctx.collection
        ));
    }
    let Some(raw) = ctx.value else {
        return Ok(()); // deletes need no shape
    };
    let check = |f: &dyn Fn(&Value) -> Result<(), FieldError>| -> Result<(), String> {
        let v: Value = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
        f(&v).map_err(|e| format!("{}/{}: {e}", ctx.collection, ctx.id))
    };
    match (user_space, ctx.collection) {
        (true, settings::COLLECTION) if ctx.id == settings::ID => check(&settings::validate),
        (true, prefs::COLLECTION) => check(&|v| prefs::validate(ctx.id, v)),
        (true, chat::CONVERSATIONS) => check(&chat::validate_conversation),
        (true, chat::MESSAGES) => check(&chat::validate_message),
        (true, chat::USAGE) => check(&|v| chat::validate_usage(ctx.id, v)),
        (false, catalog::PROVIDERS) => check(&|v| catalog::validate_provider(ctx.id, v)),
        (false, catalog::MODELS) => check(&|v| catalog::validate_model(ctx.id, v)),
        _ => Ok(()),
    }
}
