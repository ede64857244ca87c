//! This engine's half of a move to another engine (backend/transfer.rs).

use super::SqliteBackend;
use crate::backend::transfer::{Export, Import};

impl Export for SqliteBackend {}

impl Import for SqliteBackend {}
