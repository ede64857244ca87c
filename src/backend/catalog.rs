//! Reading an engine's catalog into the neutral schema model, and the engine's own review of a
//! plan (shapes it refuses, things worth a warning that only it knows about).

use super::{Finding, Session};
use crate::error::Result;
use crate::model::Schema;
use crate::options::ConversionOptions;
use crate::plan::Plan;

/// Version facts that reports and preflight show.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ServerInfo {
    pub version: String,
}

pub trait Catalog {
    /// Reads the catalog into the neutral model.
    fn describe(&self, session: &mut dyn Session) -> Result<Schema>;
    fn server_info(&self, session: &mut dyn Session) -> Result<ServerInfo>;
    /// Refuses a URL whose namespace inside the database does not exist (PostgreSQL's
    /// `?schema=`), which would otherwise read as a database without tables.
    fn check_namespace(&self, _session: &mut dyn Session) -> Result<()> {
        Ok(())
    }
    /// Refuses what this engine cannot convert (a partition function over a converted column on
    /// MySQL) and adds the warnings only it can give (MyISAM tables without foreign keys).
    fn review_plan(&self, _schema: &Schema, _plan: &mut Plan) -> Result<()> {
        Ok(())
    }
    /// Warnings that need the catalog itself, not only the model: references into the converted
    /// tables from outside the converted namespace (PostgreSQL's other schemas), which keep
    /// their integer values and break.
    fn review_outside(
        &self,
        _session: &mut dyn Session,
        _schema: &Schema,
        _plan: &mut Plan,
    ) -> Result<()> {
        Ok(())
    }
    /// What this engine knows would fail mid-run, checked on SOURCE before anything is written:
    /// values its keys cannot hold, rows larger than it can send, references that derive-final
    /// (`derive`) could not declare. Failed findings are problems of the data (exit 2).
    fn check_source(
        &self,
        _session: &mut dyn Session,
        _schema: &Schema,
        _plan: &Plan,
        _options: &ConversionOptions,
        _derive: bool,
    ) -> Result<Vec<Finding>> {
        Ok(Vec::new())
    }
}
