//! The stages of a run, in pipeline order: the one place that order is written down. Their names
//! are the journal's keys and the report's headings.

use std::fmt;

/// One pass of the pipeline. The declaration order is the order a run executes them in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// `run --follow` only: SOURCE's consistent snapshot copied into a database rekey owns,
    /// which the stages then convert as SOURCE.
    Snapshot,
    /// SOURCE on another engine than DB_DATA only: SOURCE's rows copied, by meaning, into a
    /// database rekey owns on DB_DATA's engine, which the stages then convert as SOURCE.
    Transfer,
    Introspect,
    Preflight,
    Clone,
    Shadow,
    Link,
    Unconstrain,
    Swap,
    DeriveFinal,
    Compare,
    Load,
    Verify,
    /// `run --follow` only: SOURCE's changes after the snapshot applied to DB_FINAL until
    /// `rekey cutover`.
    Follow,
}

impl Stage {
    /// Every stage, in the order a full `run --derive-final` executes them.
    pub const ALL: [Stage; 14] = [
        Stage::Snapshot,
        Stage::Transfer,
        Stage::Introspect,
        Stage::Preflight,
        Stage::Clone,
        Stage::Shadow,
        Stage::Link,
        Stage::Unconstrain,
        Stage::Swap,
        Stage::DeriveFinal,
        Stage::Compare,
        Stage::Load,
        Stage::Verify,
        Stage::Follow,
    ];

    /// The stages that build DB_DATA (`rekey convert`).
    pub const CONVERT: [Stage; 7] = [
        Stage::Introspect,
        Stage::Preflight,
        Stage::Clone,
        Stage::Shadow,
        Stage::Link,
        Stage::Unconstrain,
        Stage::Swap,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Snapshot => "snapshot",
            Stage::Transfer => "transfer",
            Stage::Introspect => "introspect",
            Stage::Preflight => "preflight",
            Stage::Clone => "clone",
            Stage::Shadow => "shadow",
            Stage::Link => "link",
            Stage::Unconstrain => "unconstrain",
            Stage::Swap => "swap",
            Stage::DeriveFinal => "derive-final",
            Stage::Compare => "compare",
            Stage::Load => "load",
            Stage::Verify => "verify",
            Stage::Follow => "follow",
        }
    }

    /// The stage a journal key names.
    pub fn parse(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The stages that only check and never write: their result is never taken from an earlier
    /// run.
    pub fn is_check(self) -> bool {
        matches!(self, Stage::Compare | Stage::Verify)
    }

    /// The stages only a live cutover (`run --follow`) runs.
    pub fn is_live(self) -> bool {
        matches!(self, Stage::Snapshot | Stage::Follow)
    }
}

/// The stages whose per-table figures are rows written or read; the others change the schema
/// only, and their "rows" are something else (introspect counts tables).
pub const ROW_STAGES: [Stage; 4] = [Stage::Shadow, Stage::Swap, Stage::Load, Stage::Verify];

/// Whether the stage named `stage` counts rows (see `ROW_STAGES`).
pub fn moves_rows(stage: &str) -> bool {
    ROW_STAGES.iter().any(|s| s.name() == stage)
}

impl Stage {
    /// Whether this stage's row count is a count of rows (see `ROW_STAGES`).
    pub fn moves_rows(self) -> bool {
        ROW_STAGES.contains(&self)
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_follow_the_declaration_order() {
        for s in Stage::ALL {
            assert_eq!(Stage::parse(s.name()), Some(s));
        }
        assert!(Stage::ALL.windows(2).all(|w| w[0] < w[1]));
        assert!(Stage::CONVERT.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(Stage::parse("nonsense"), None);
    }
}
