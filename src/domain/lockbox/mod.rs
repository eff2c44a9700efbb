//! Encrypted API keys (issue 6). Work in progress.
