//! Snapshots of `Plan::build` on a neutral schema built in code (no server): what is converted,
//! followed, kept and warned about, as `rekey plan` prints it (text and JSON), and its errors.

use rekey::model::{Column, ForeignKey, Routine, Schema, Table, Trigger, View};
use rekey::options::{ConversionOptions, DeclaredReference};
use rekey::plan::Plan;

/// A column as the MySQL catalog describes it: base type and full declared type.
fn col(name: &str, data_type: &str, column_type: &str, nullable: bool) -> Column {
    Column {
        name: name.into(),
        data_type: data_type.into(),
        column_type: column_type.into(),
        nullable,
        ..Column::default()
    }
}

fn int(name: &str, nullable: bool) -> Column {
    col(name, "int", "int(11)", nullable)
}

fn text(name: &str) -> Column {
    col(name, "varchar", "varchar(100)", true)
}

fn fk(name: &str, columns: &[&str], ref_table: &str, ref_columns: &[&str]) -> ForeignKey {
    ForeignKey {
        name: name.into(),
        columns: columns.iter().map(|c| c.to_string()).collect(),
        ref_schema: None,
        ref_table: ref_table.into(),
        ref_columns: ref_columns.iter().map(|c| c.to_string()).collect(),
        on_delete: "RESTRICT".into(),
        on_update: "RESTRICT".into(),
    }
}

fn table(name: &str, columns: Vec<Column>, primary_key: &[&str], fks: Vec<ForeignKey>) -> Table {
    Table {
        name: name.into(),
        columns,
        primary_key: primary_key.iter().map(|c| c.to_string()).collect(),
        foreign_keys: fks,
        engine: Some("InnoDB".into()),
        ..Table::default()
    }
}

/// Every shape the plan must tell apart, in one schema.
fn schema() -> Schema {
    let tables = vec![
        // Keys of every integer type, none of them called `id`.
        table(
            "account",
            vec![
                col("account_no", "bigint", "bigint(20) unsigned", false),
                col("code", "varchar", "varchar(20)", false),
                text("name"),
            ],
            &["account_no"],
            vec![],
        ),
        table(
            "flag",
            vec![
                col("flag_key", "tinyint", "tinyint(3) unsigned", false),
                text("label"),
            ],
            &["flag_key"],
            vec![],
        ),
        table(
            "region",
            vec![
                col("region_nr", "smallint", "smallint(6)", false),
                text("label"),
            ],
            &["region_nr"],
            vec![],
        ),
        table(
            "shelf",
            vec![
                col("shelf_pos", "mediumint", "mediumint(8) unsigned", false),
                text("label"),
            ],
            &["shelf_pos"],
            vec![],
        ),
        // SQLite spells it INTEGER.
        table(
            "sqlite_style",
            vec![col("rowkey", "integer", "INTEGER", false), text("label")],
            &["rowkey"],
            vec![],
        ),
        // A self reference.
        table(
            "node",
            vec![
                int("node_id", false),
                int("parent_id", true),
                col("region_nr", "smallint", "smallint(6)", true),
                text("title"),
            ],
            &["node_id"],
            vec![
                fk("fk_node_parent", &["parent_id"], "node", &["node_id"]),
                fk("fk_node_region", &["region_nr"], "region", &["region_nr"]),
            ],
        ),
        // A cycle A -> B -> A.
        table(
            "cycle_a",
            vec![int("id", false), int("b_id", true)],
            &["id"],
            vec![fk("fk_a_b", &["b_id"], "cycle_b", &["id"])],
        ),
        table(
            "cycle_b",
            vec![int("id", false), int("a_id", false)],
            &["id"],
            vec![fk("fk_b_a", &["a_id"], "cycle_a", &["id"])],
        ),
        // One-to-one: the key is a reference to its parent's key, so it follows it.
        table(
            "account_profile",
            vec![
                col("account_no", "bigint", "bigint(20) unsigned", false),
                text("bio"),
            ],
            &["account_no"],
            vec![fk(
                "fk_profile_account",
                &["account_no"],
                "account",
                &["account_no"],
            )],
        ),
        // A many-to-many table: composite key of two references (kept, references converted).
        table(
            "account_mtm_flag",
            vec![
                col("account_no", "bigint", "bigint(20) unsigned", false),
                col("flag_key", "tinyint", "tinyint(3) unsigned", false),
            ],
            &["account_no", "flag_key"],
            vec![
                fk(
                    "fk_mtm_account",
                    &["account_no"],
                    "account",
                    &["account_no"],
                ),
                fk("fk_mtm_flag", &["flag_key"], "flag", &["flag_key"]),
            ],
        ),
        // Excluded with --exclude: keeps its key, its reference still converts.
        table(
            "legacy_log",
            vec![
                int("id", false),
                col("account_no", "bigint", "bigint(20) unsigned", true),
                text("line"),
            ],
            &["id"],
            vec![fk(
                "fk_legacy_account",
                &["account_no"],
                "account",
                &["account_no"],
            )],
        ),
        // A declared reference (subject_id) and an undeclared one (actor_id: a warning).
        table(
            "audit",
            vec![
                int("audit_id", false),
                int("subject_id", true),
                int("actor_id", true),
                col("Owner_ID", "bigint", "bigint(20)", true),
                col("ext_id", "varchar", "varchar(40)", true),
            ],
            &["audit_id"],
            vec![],
        ),
        // A key that is not an integer (kept).
        table(
            "country",
            vec![col("iso", "char", "char(2)", false), text("name")],
            &["iso"],
            vec![],
        ),
        // No key at all (kept), with a reference that converts.
        table(
            "event_stream",
            vec![
                int("node_id", true),
                col("at", "datetime", "datetime(6)", false),
            ],
            &[],
            vec![fk("fk_event_node", &["node_id"], "node", &["node_id"])],
        ),
        // A foreign key into another database, and one to a converted table's other column.
        table(
            "remote_ref",
            vec![
                int("id", false),
                int("other_user_id", true),
                col("account_code", "varchar", "varchar(20)", true),
            ],
            &["id"],
            vec![
                ForeignKey {
                    ref_schema: Some("other_db".into()),
                    ..fk("fk_remote_user", &["other_user_id"], "user", &["id"])
                },
                fk(
                    "fk_remote_account_code",
                    &["account_code"],
                    "account",
                    &["code"],
                ),
            ],
        ),
        // rekey's own bookkeeping: never planned.
        table(
            "_rekey_map_node",
            vec![
                col("old_id", "bigint", "bigint(20)", false),
                col("new_id", "binary", "binary(16)", false),
            ],
            &["old_id"],
            vec![],
        ),
    ];
    Schema {
        tables,
        triggers: vec![
            Trigger {
                name: "trg_node_touch".into(),
                table: "audit".into(),
                create_sql: "CREATE TRIGGER trg_node_touch AFTER INSERT ON audit FOR EACH ROW UPDATE node SET title = title WHERE node_id = NEW.subject_id".into(),
                setup: vec![],
                runs_as: None,
                enabled: None,
            },
            Trigger {
                name: "trg_country".into(),
                table: "country".into(),
                create_sql: "CREATE TRIGGER trg_country BEFORE INSERT ON country FOR EACH ROW SET NEW.name = UPPER(NEW.name)".into(),
                setup: vec![],
                runs_as: None,
                enabled: None,
            },
        ],
        views: vec![
            View {
                name: "v_accounts".into(),
                definition: "select account_no, name from account".into(),
                create_sql: None,
            },
            // Mentions are found by substring: `flagship` mentions `flag`.
            View {
                name: "v_flagship".into(),
                definition: "select 'flagship' as product".into(),
                create_sql: None,
            },
            View {
                name: "v_countries".into(),
                definition: "select iso from country".into(),
                create_sql: None,
            },
        ],
        routines: vec![Routine {
            name: "purge_cycle".into(),
            kind: "PROCEDURE".into(),
            definition: "BEGIN DELETE FROM cycle_b WHERE a_id IS NULL; END".into(),
        }],
    }
}

fn options() -> ConversionOptions {
    ConversionOptions {
        exclude: vec!["legacy_log".into()],
        references: vec![DeclaredReference::parse("audit.subject_id=node.node_id").unwrap()],
        ..ConversionOptions::default()
    }
}

#[test]
fn plan_text() {
    let plan = Plan::build(&schema(), &options()).unwrap();
    insta::assert_snapshot!("plan_text", plan.to_text());
}

#[test]
fn plan_json() {
    let plan = Plan::build(&schema(), &options()).unwrap();
    insta::assert_snapshot!("plan_json", serde_json::to_string_pretty(&plan).unwrap());
}

/// The order in which shadow gives converted tables their UUIDs: parents before followers.
#[test]
fn plan_follow_order() {
    let plan = Plan::build(&schema(), &options()).unwrap();
    let order: Vec<String> = plan
        .converted_in_follow_order()
        .iter()
        .map(|c| match &c.follows {
            Some(p) => format!("{} (follows {p})", c.table),
            None => c.table.clone(),
        })
        .collect();
    insta::assert_snapshot!("plan_follow_order", order.join("\n"));
}

/// Without options: legacy_log is converted, audit.subject_id is only a warning.
#[test]
fn plan_text_without_options() {
    let plan = Plan::build(&schema(), &ConversionOptions::default()).unwrap();
    insta::assert_snapshot!("plan_text_without_options", plan.to_text());
}

fn error_text(schema: &Schema, options: &ConversionOptions) -> String {
    match Plan::build(schema, options) {
        Ok(plan) => panic!("expected an error, got a plan:\n{}", plan.to_text()),
        Err(e) => format!("exit code {}: {e}", e.exit_code()),
    }
}

/// Two one-to-one tables whose keys reference each other: no table of the chain can start.
#[test]
fn plan_error_follow_cycle() {
    let mut s = schema();
    s.tables.push(table(
        "twin_a",
        vec![int("id", false)],
        &["id"],
        vec![fk("fk_twin_a_b", &["id"], "twin_b", &["id"])],
    ));
    s.tables.push(table(
        "twin_b",
        vec![int("id", false)],
        &["id"],
        vec![fk("fk_twin_b_a", &["id"], "twin_a", &["id"])],
    ));
    insta::assert_snapshot!(
        "plan_error_follow_cycle",
        error_text(&s, &ConversionOptions::default())
    );
}

/// A key that references itself is a follow cycle of one table.
#[test]
fn plan_error_key_follows_itself() {
    let mut s = schema();
    s.tables.push(table(
        "narcissus",
        vec![int("id", false)],
        &["id"],
        vec![fk("fk_self_key", &["id"], "narcissus", &["id"])],
    ));
    insta::assert_snapshot!(
        "plan_error_key_follows_itself",
        error_text(&s, &ConversionOptions::default())
    );
}

#[test]
fn plan_error_unknown_exclude() {
    let options = ConversionOptions {
        exclude: vec!["acount".into()],
        ..ConversionOptions::default()
    };
    insta::assert_snapshot!(
        "plan_error_unknown_exclude",
        error_text(&schema(), &options)
    );
}

/// Declared references that cannot be followed, one error each.
#[test]
fn plan_error_declared_references() {
    let cases = [
        "missing.parent_id=node.node_id",
        "audit.missing_id=node.node_id",
        "audit.subject_id=legacy_log.id",
        "audit.subject_id=country.iso",
        "audit.subject_id=node.id",
    ];
    let s = schema();
    let out: Vec<String> = cases
        .iter()
        .map(|r| {
            let options = ConversionOptions {
                exclude: vec!["legacy_log".into()],
                references: vec![DeclaredReference::parse(r).unwrap()],
                ..ConversionOptions::default()
            };
            format!("--reference {r}\n{}", error_text(&s, &options))
        })
        .collect();
    insta::assert_snapshot!("plan_error_declared_references", out.join("\n\n"));
}
