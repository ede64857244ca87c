//! This engine's half of a move to another engine (backend/transfer.rs).

use super::MysqlBackend;
use crate::backend::transfer::{Export, Import};

impl Export for MysqlBackend {}

impl Import for MysqlBackend {}
