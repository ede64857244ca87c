//! The staged passes, one module each. Every stage is a leaf: it uses what the run shares
//! (`crate::run`: the context and step runner, SOURCE's plan, DB_DATA's shape, the marker, map
//! files, triggers and indexes set aside, ...) and no other stage. The one exception is the
//! load, which checks each table right after writing it with verify's per-table check
//! (`verify::after_load`, where `Dialect::verifies_during_load`). Their order lives in
//! `crate::stage::Stage`.

pub mod clean;
pub mod clone;
pub mod compare;
pub mod cutover;
pub mod derive;
pub mod follow;
pub mod introspect;
pub mod link;
pub mod load;
pub mod preflight;
pub mod shadow;
pub mod snapshot;
pub mod swap;
pub mod transfer;
pub mod unconstrain;
pub mod verify;

// The names every stage takes from `super`, kept there so that each stage reads as before.
pub use crate::run::{greedy, joined, Context, Outcome};
pub use crate::stage::Stage;
