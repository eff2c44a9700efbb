//! The domain layer's one error type; the HTTP edge maps it once.

use super::check::FieldError;
use crate::engine::EngineError;
use crate::protocol::RejectCode;

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// Bad input, naming the field (422).
    #[error("{0}")]
    Invalid(FieldError),
    /// The engine refused the mutation (validation, size, permission).
    #[error("{message}")]
    Rejected { code: RejectCode, message: String },
    /// Concurrent writers kept moving the documents this write depends on.
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<FieldError> for DomainError {
    fn from(e: FieldError) -> Self {
        DomainError::Invalid(e)
    }
}
