//! Every shape of the PostgreSQL shapes fixture through `rekey run --derive-final`, verified: key
//! kinds (serial, identities, a plain smallint, a domain), a shared sequence, declarative
//! partitions (a partition's own foreign key included), inheritance with a DO INSTEAD rule that
//! must not fire, a reference cycle and deferrable constraints, composite foreign keys that
//! include a converted key, referential actions, mixed-case and unicode names, another schema,
//! views and a materialized view, triggers in every state, arrays of enums, identifiers near the
//! 63-byte limit; plus an excluded table whose sequence is set past the loaded keys, the other
//! UUID formats, and a run inside schema "Sales".

mod common;

use common::engine::{Databases, TestServer};
use common::pg::*;
use common::*;

fn derived(pg: &Postgres, tag: &str, extra: &[&str]) -> Databases<Postgres> {
    let dbs = shapes(pg, tag);
    let before = pg.fingerprint(&dbs.source);
    let mut args = vec!["--derive-final"];
    args.extend(extra);
    let out = dbs.run(&args);
    assert_exit(&out, 0);
    assert_eq!(pg.fingerprint(&dbs.source), before, "SOURCE changed");
    let report = report(&dbs.run_dir());
    let checks = report["verification"].as_array().unwrap();
    assert!(checks.iter().all(|c| c["ok"] == true), "{checks:?}");
    dbs
}

fn column_type(pg: &Postgres, db: &str, table: &str, column: &str) -> String {
    pg.text(db, &format!("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '{table}'::regclass AND attname = '{column}'"))
}

#[test]
fn every_shape_converts_and_verifies() {
    let pg = pg_or_skip!();
    let dbs = derived(&pg, "shapes", &["--uuid-format", "native"]);
    let (s, f) = (&dbs.source, &dbs.final_db);
    let report = report(&dbs.run_dir());
    assert_eq!(report["verification"].as_array().unwrap().len(), 45);
    // Key kinds: serial, identities, plain smallint and a domain over integer all convert, and
    // so do references through a domain over bigint.
    for (t, c) in [
        ("key_serial", "id"),
        ("key_identity_always", "id"),
        ("key_identity_default", "id"),
        ("key_smallint_plain", "id"),
        ("key_domain", "id"),
        ("key_refs", "default_id"),
        ("key_refs", "domain_id"),
        ("shared_seq_b", "a_id"),
    ] {
        assert_eq!(column_type(&pg, f, t, c), "uuid", "{t}.{c}");
    }
    assert_eq!(pg.text(f, "SELECT count(*) FROM pg_attribute WHERE attidentity <> '' AND attrelid = 'key_identity_always'::regclass"), "0");
    // Partitions: one table for rekey, its rows routed to the same partitions, the partition's
    // own foreign key back on the partition.
    for p in [
        "part_event_2023",
        "part_event_2024",
        "part_event_default",
        "part_list_note_eu",
        "part_list_note_us",
    ] {
        assert_eq!(
            pg.text(f, &format!("SELECT count(*) FROM {p}")),
            pg.text(s, &format!("SELECT count(*) FROM {p}")),
            "{p}"
        );
    }
    assert_eq!(column_type(&pg, f, "part_event", "account_id"), "uuid");
    assert_eq!(
        column_type(&pg, f, "part_list_note_us", "account_id"),
        "uuid"
    );
    assert_eq!(pg.text(f, "SELECT conrelid::regclass::text FROM pg_constraint WHERE conname = 'fk_part_list_note_eu_account'"), "part_list_note_eu");
    // Inheritance: parent and child keep their own rows; the DO INSTEAD rule is back and never
    // fired during the load (it would have moved the parent's rows into the child).
    assert_eq!(pg.text(f, "SELECT count(*) FROM ONLY inh_vehicle"), "10");
    assert_eq!(pg.text(f, "SELECT count(*) FROM inh_car"), "12");
    assert_eq!(
        pg.text(
            f,
            "SELECT count(*) FROM pg_rewrite WHERE rulename = 'inh_vehicle_insert_redirect'"
        ),
        "1"
    );
    assert_eq!(pg.text(f, "SELECT string_agg(inhparent::regclass::text, ',') FROM pg_inherits WHERE inhrelid = 'inh_car'::regclass"), "inh_vehicle");
    // Triggers: none fired (no audit rows, no touched rows), every state back exactly.
    assert_eq!(pg.text(f, "SELECT count(*) FROM trg_audit"), "0");
    assert_eq!(
        pg.text(
            f,
            "SELECT string_agg(v || ':' || touched, ',' ORDER BY v) FROM trg_table"
        ),
        pg.text(
            s,
            "SELECT string_agg(v || ':' || touched, ',' ORDER BY v) FROM trg_table"
        )
    );
    assert_eq!(
        pg.text(f, "SELECT string_agg(tgname || ':' || tgenabled::text, ',' ORDER BY tgname) FROM pg_trigger WHERE NOT tgisinternal"),
        "trg_table_audit:D,trg_table_audit_always:A,trg_table_audit_replica:R,trg_table_touch:O,trg_table_truncate:O"
    );
    // Constraints as written: deferrable, referential actions, PG15's SET NULL (column).
    assert_eq!(
        pg.text(
            f,
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'fk_cyc_a_b'"
        ),
        "FOREIGN KEY (b_id) REFERENCES cyc_b(id) DEFERRABLE INITIALLY DEFERRED"
    );
    assert_eq!(pg.text(f, "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'fk_action_child_item'"), "FOREIGN KEY (tenant_id, item_id) REFERENCES tenant_item(tenant_id, id) ON DELETE SET NULL (item_id)");
    // A composite key that includes converted keys converts column by column.
    assert_eq!(column_type(&pg, f, "tenant_item_ref", "item_id"), "uuid");
    assert_eq!(column_type(&pg, f, "tenant_item_ref", "tenant_id"), "uuid");
    assert_eq!(
        column_type(&pg, f, "cfk_child", "parent_version"),
        "integer"
    );
    // Names: mixed case, unicode, spaces, quotes, reserved words; near the 63-byte limit.
    assert_eq!(column_type(&pg, f, "\"straße\"", "Kunde id"), "uuid");
    assert_eq!(column_type(&pg, f, "\"order line\"", "straße_ref"), "uuid");
    assert_eq!(
        column_type(
            &pg,
            f,
            "long_names_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "node_reference_with_a_name_long_enough_to_overflow_the_limit"
        ),
        "uuid"
    );
    // Another schema's table keeps its key, and so does the column that references it.
    assert_eq!(column_type(&pg, f, "invoice", "order_id"), "integer");
    // Views over keys recreated, the materialized one refreshed with its unique index.
    assert_eq!(pg.text(f, "SELECT count(*) FROM v_node_root"), "1");
    assert_eq!(pg.text(f, "SELECT count(*) FROM mv_account_events"), "30");
    assert_eq!(
        pg.text(
            f,
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_mv_account_events'"
        ),
        "1"
    );
    // Arrays of an enum (whose OID differs between databases) and with NULL elements.
    assert_eq!(
        pg.text(
            f,
            "SELECT string_agg(tiers::text, ';' ORDER BY labels::text) FROM arr_holder"
        ),
        pg.text(
            s,
            "SELECT string_agg(tiers::text, ';' ORDER BY labels::text) FROM arr_holder"
        )
    );
    // A key used by a CHECK, an expression index and a generated column: the server refuses
    // the first two over a UUID, so they are left out and the report names them with its
    // reason; the generated column is computed again.
    assert_eq!(pg.text(f, "SELECT count(*) FROM pg_constraint WHERE conrelid = 'key_dependents'::regclass AND contype = 'c'"), "0");
    assert_eq!(
        pg.text(
            f,
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_key_dependents_id_mod'"
        ),
        "0"
    );
    let derive = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "derive-final")
        .map(|s| s["detail"].as_str().unwrap_or_default().to_string())
        .unwrap();
    assert!(
        derive.contains("CHECK constraint key_dependents_id_check on key_dependents"),
        "{derive}"
    );
    assert!(
        derive.contains("index ix_key_dependents_id_mod on key_dependents"),
        "{derive}"
    );
    assert!(derive.contains("operator does not exist: uuid"), "{derive}");
    assert!(!derive.contains("node"), "{derive}");
    // A foreign key into another schema that DB_FINAL's database lacks is named too.
    assert!(
        derive.contains(r#"foreign key invoice_order_id_fkey on invoice into another schema (the server rejected `ALTER TABLE "invoice" ADD CONSTRAINT "invoice_order_id_fkey" FOREIGN KEY (order_id) REFERENCES "Sales"."Order"(id)`: ERROR 3F000: schema "Sales" does not exist)"#),
        "{derive}"
    );
    // A CHECK and a partial unique index over converted columns that hold for UUIDs are kept,
    // and enforced.
    assert_eq!(pg.text(f, "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'ck_node_not_own_parent'"), "CHECK ((parent_id <> id))");
    assert_eq!(pg.text(f, "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_node_root_label'"), "CREATE UNIQUE INDEX ix_node_root_label ON public.node USING btree (label) WHERE (parent_id IS NULL)");
    let mut c = pg.client(f);
    let root = c
        .query_one("SELECT label FROM node WHERE parent_id IS NULL", &[])
        .unwrap();
    let label: String = root.get(0);
    let err = c
        .execute(
            "INSERT INTO node (id, parent_id, label) VALUES (gen_random_uuid(), NULL, $1)",
            &[&label],
        )
        .unwrap_err();
    assert!(db_text(&err).starts_with("23505"), "{}", db_text(&err));
    let err = c
        .execute(
            "UPDATE node SET parent_id = id WHERE parent_id IS NULL",
            &[],
        )
        .unwrap_err();
    assert!(db_text(&err).starts_with("23514"), "{}", db_text(&err));
    assert_eq!(
        pg.text(
            f,
            "SELECT count(*) FROM key_dependents WHERE id_label = '#' || id::text || ' ' || label"
        ),
        "10"
    );
    // Row security and UNLOGGED as in SOURCE.
    assert_eq!(pg.text(f, "SELECT relrowsecurity::text || relpersistence::text FROM pg_class WHERE relname = 'rls_secret'"), "truep");
    // Its policy comes along as written; the one over a converted reference is left out, and
    // plan said so.
    let policies = "SELECT policyname || ' ' || permissive || ' ' || cmd || ' ' || array_to_string(roles, ',') || ' ' || coalesce(qual, '') FROM pg_policies WHERE tablename = 'rls_secret' ORDER BY 1";
    assert_eq!(
        pg.texts(f, policies),
        vec![Some(
            "rls_secret_owner PERMISSIVE ALL public (owner_name = CURRENT_USER)".to_string()
        )]
    );
    assert_eq!(pg.texts(s, policies).len(), 2);
    let out = rekey(&["plan", "--source", &dbs.src_url(), "--json"]);
    assert_exit(&out, 0);
    let plan: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert!(
        plan["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["kind"] == "policy"
                && w["table"] == "rls_secret"
                && w["column"] == "account_id"
                && w["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("rls_secret_first_accounts"))),
        "{plan}"
    );
    // And it names every CHECK and expression or partial index over a converted column, once.
    let mut definitions: Vec<String> = plan["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["kind"] == "check" || w["kind"] == "expression-index")
        .map(|w| {
            let m = w["message"].as_str().unwrap();
            assert!(
                m.contains("derive-final keeps it if PostgreSQL accepts it"),
                "{m}"
            );
            format!(
                "{} {} {}",
                w["table"],
                w["column"],
                m.split(" uses ").next().unwrap()
            )
        })
        .collect();
    definitions.sort();
    assert_eq!(
        definitions,
        [
            r#""key_dependents" "id" CHECK constraint key_dependents_id_check (CHECK ((id > 0))) on key_dependents"#,
            r#""key_dependents" "id" expression or partial index ix_key_dependents_id_mod on key_dependents"#,
            r#""node" "parent_id" CHECK constraint ck_node_not_own_parent (CHECK ((parent_id <> id))) on node"#,
            r#""node" "parent_id" expression or partial index ix_node_root_label on node"#,
        ],
        "{plan}"
    );
    assert_eq!(
        pg.text(
            f,
            "SELECT relpersistence::text FROM pg_class WHERE relname = 'unlogged_cache'"
        ),
        "u"
    );
    // DB_FINAL takes new rows: a UUID key, an identity kept on a table that is not converted.
    pg.exec(
        f,
        "INSERT INTO node (id, parent_id, label) VALUES (gen_random_uuid(), NULL, 'new root')",
    );
    pg.exec(f, "INSERT INTO part_event (created_on, account_id, kind) SELECT '2024-05-05', id, 'new' FROM account LIMIT 1");
}

#[test]
fn an_excluded_table_keeps_its_sequence_past_the_loaded_keys() {
    let pg = pg_or_skip!();
    let dbs = derived(
        &pg,
        "exclude",
        &["--uuid-format", "char36", "--exclude", "key_serial"],
    );
    let f = &dbs.final_db;
    assert_eq!(column_type(&pg, f, "key_serial", "id"), "integer");
    assert_eq!(column_type(&pg, f, "key_refs", "serial_id"), "integer");
    assert_eq!(
        column_type(&pg, f, "key_refs", "always_id"),
        "character(36)"
    );
    assert_eq!(
        pg.text(
            f,
            "SELECT nextval(pg_get_serial_sequence('key_serial', 'id'))"
        ),
        "21"
    );
    // The identity of a table that is not converted (composite key) continues after its rows.
    assert_eq!(
        pg.text(
            f,
            "SELECT nextval(pg_get_serial_sequence('part_event', 'id'))"
        ),
        "46"
    );
}

#[test]
fn binary16_keys_verify() {
    let pg = pg_or_skip!();
    let dbs = derived(&pg, "binary16", &["--uuid-format", "binary16"]);
    assert_eq!(
        column_type(&pg, &dbs.final_db, "node", "parent_id"),
        "bytea"
    );
    assert_eq!(
        pg.text(
            &dbs.final_db,
            "SELECT count(*) FROM node WHERE length(id) <> 16"
        ),
        "0"
    );
}

#[test]
fn a_run_inside_another_schema() {
    let pg = pg_or_skip!();
    let dbs = shapes(&pg, "sales");
    let with_schema = |url: String| format!("{url}?schema=Sales");
    let dir = dbs.run_dir();
    let out = rekey(&[
        "run",
        "--source",
        &with_schema(dbs.src_url()),
        "--data",
        &with_schema(dbs.data_url()),
        "--final",
        &with_schema(dbs.final_url()),
        "--derive-final",
        "--run-dir",
        dir.to_str().unwrap(),
        "-q",
        "--uuid-format",
        "native",
    ]);
    assert_exit(&out, 0);
    let f = &dbs.final_db;
    assert_eq!(pg.text(f, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '\"Sales\".\"OrderItem\"'::regclass AND attname = 'OrderID'"), "uuid");
    assert_eq!(
        pg.text(f, "SELECT count(*) FROM \"Sales\".\"OrderSummary\""),
        "15"
    );
    assert_eq!(pg.text(f, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'"), "0");
}
