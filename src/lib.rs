//! rekey: converts a database from integer primary keys to UUID keys, every foreign key following,
//! in staged, journaled, resumable passes. The library never prints: commands get a writer for
//! their results and a progress handle.

pub mod audit;
pub mod backend;
pub mod calendar;
pub mod child;
pub mod commands;
pub mod demo;
pub mod error;
pub mod estimate;
pub mod guard;
pub mod ident;
pub mod journal;
pub mod model;
pub mod options;
pub mod plan;
pub mod progress;
pub mod report;
pub mod run;
pub mod run_files;
pub mod run_lock;
pub mod secrets;
pub mod stage;
pub mod stages;
pub mod status;
pub mod text;
pub mod url;
pub mod uuidgen;

pub use error::{Error, Result};
