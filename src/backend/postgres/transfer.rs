//! This engine's half of a move to another engine (backend/transfer.rs).

use super::PostgresBackend;
use crate::backend::transfer::{Export, Import};

impl Export for PostgresBackend {}

impl Import for PostgresBackend {}
