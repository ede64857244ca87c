//! DB_FINAL as a run finds it: its catalog described once for one set of checks, and empty but
//! for its own bookkeeping tables (preflight checks it before anything is written, the load
//! again before it writes).

use crate::backend::Backend;
use crate::error::{Error, Place, Result};
use crate::model::{is_internal, Schema};
use crate::stage::Stage;

/// DB_FINAL's catalog, described once for the checks of one preflight (each describe is about
/// 15 catalog queries, ~0.1 s on PostgreSQL; preflight asked three times).
#[derive(Default)]
pub struct FinalSchema(std::sync::OnceLock<Schema>);

impl FinalSchema {
    pub fn get(&self, fin: &dyn Backend) -> Result<&Schema> {
        if let Some(s) = self.0.get() {
            return Ok(s);
        }
        let mut fs = fin.connect()?;
        let schema = fin.describe(fs.as_mut())?;
        Ok(self.0.get_or_init(|| schema))
    }
}

/// `source` is SOURCE's schema where the command has it, so that a bookkeeping-named table SOURCE
/// ties by a foreign key is loaded, and so must be empty, as the load decides.
pub fn check_final_empty(f: &dyn Backend, source: Option<&Schema>) -> Result<Schema> {
    final_empty(f, source, &FinalSchema::default())
}

pub fn final_empty(
    f: &dyn Backend,
    source: Option<&Schema>,
    described: &FinalSchema,
) -> Result<Schema> {
    if !f.database_exists()? {
        return Err(Error::input(
            Place::stage(Stage::Preflight),
            format!("DB_FINAL {} does not exist.", f.url()),
            "Create it with the application's migrations (or `rekey derive-final`), then run again.",
        ));
    }
    let schema = described.get(f)?.clone();
    let mut s = f.connect()?;
    for t in &schema.tables {
        if crate::run::bookkeeping::kept(&t.name, &schema, source) || is_internal(&t.name) {
            continue;
        }
        let rows = s.query_u64(&format!("SELECT COUNT(*) FROM {}", f.dialect().q(&t.name)))?;
        if rows > 0 {
            return Err(Error::input(
                Place::stage(Stage::Preflight).table(&t.name),
                format!("DB_FINAL {} is not empty: {} holds {rows} rows.", f.url(), t.name),
                "rekey loads only into an empty schema: recreate DB_FINAL from the application's migrations (or empty its tables), then run again.",
            ));
        }
    }
    Ok(schema)
}
