//! The statements of the PostgreSQL backend for one representative table (a converted key, a
//! self reference, a reference, a domain, an enum, a generated column, an identity, a unique
//! constraint, a CHECK on the key, an expression index on the key, a partial index, a rule,
//! partitions), as snapshots; and how binary values become `Value`s.

use super::extra::{PgColumn, PgConstraint, PgIndex, PgPartition, PgPolicy, PgTable, PgType};
use super::session::to_value;
use super::PostgresBackend;
use crate::backend::{Arrival, Ddl, FillColumn, FillFrom, FillJob, Load, Swap, Unconstrain, Value};
use crate::model::{Column, ForeignKey, Schema, Table, Trigger, View};
use crate::options::{UuidFormat, UuidVersion};
use crate::url::DbUrl;
use crate::uuidgen::DerivedKey;
use postgres::types::Type;

fn column(name: &str, ty: &str, nullable: bool) -> Column {
    Column {
        name: name.into(),
        data_type: ty.split('(').next().unwrap_or(ty).into(),
        column_type: ty.into(),
        nullable,
        ..Column::default()
    }
}

fn pg_column(name: &str) -> PgColumn {
    PgColumn {
        name: name.into(),
        local: true,
        ..PgColumn::default()
    }
}

/// `content_item` as the catalog describes it.
fn content_item() -> Table {
    let mut id = column("id", "bigint", false);
    id.default = Some("nextval('content_item_id_seq'::regclass)".into());
    id.auto_increment = true;
    let mut title_length = column("title_length", "integer", true);
    title_length.generated = Some("char_length((title)::text)".into());
    let mut status = column("status", "content_status", false);
    status.default = Some("'draft'::content_status".into());
    let mut revision = column("revision", "integer", false);
    revision.auto_increment = true;
    let mut title = column("title", "character varying(255)", false);
    title.collation = Some("\"C\"".into());
    title.comment = Some("shown in lists".into());
    let extra = PgTable {
        partition_key: Some("RANGE (published_on)".into()),
        partitions: vec![
            PgPartition {
                name: "content_item_2024".into(),
                parent: "content_item".into(),
                bound: "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')".into(),
                partition_key: None,
            },
            PgPartition {
                name: "content_item_rest".into(),
                parent: "content_item".into(),
                bound: "DEFAULT".into(),
                partition_key: None,
            },
        ],
        columns: vec![
            PgColumn {
                sequence: Some("public.content_item_id_seq".into()),
                owns_sequence: true,
                ..pg_column("id")
            },
            pg_column("parent_id"),
            pg_column("author_id"),
            PgColumn {
                collation: Some("\"C\"".into()),
                ..pg_column("title")
            },
            pg_column("slug"),
            pg_column("status"),
            PgColumn {
                identity: "a".into(),
                sequence: Some("public.content_item_revision_seq".into()),
                owns_sequence: true,
                ..pg_column("revision")
            },
            pg_column("published_on"),
            pg_column("title_length"),
        ],
        types: vec![
            PgType {
                name: "content_status".into(),
                create_sql: "CREATE TYPE content_status AS ENUM ('draft', 'published')".into(),
            },
            PgType {
                name: "slug".into(),
                create_sql: "CREATE DOMAIN slug AS text CONSTRAINT slug_check CHECK ((VALUE ~ '^[a-z-]+$'::text))".into(),
            },
        ],
        constraints: vec![
            PgConstraint {
                name: "content_item_pkey".into(),
                on: "content_item".into(),
                kind: "p".into(),
                definition: "PRIMARY KEY (id, published_on)".into(),
                columns: vec!["id".into(), "published_on".into()],
                foreign_schema: false,
            },
            PgConstraint {
                name: "ck_content_item_id".into(),
                on: "content_item".into(),
                kind: "c".into(),
                definition: "CHECK ((id > 0))".into(),
                columns: vec!["id".into()],
                foreign_schema: false,
            },
            PgConstraint {
                name: "fk_content_item_author".into(),
                on: "content_item".into(),
                kind: "f".into(),
                definition: "FOREIGN KEY (author_id) REFERENCES \"user\"(id) ON DELETE SET NULL DEFERRABLE".into(),
                columns: vec!["author_id".into()],
                foreign_schema: false,
            },
            PgConstraint {
                name: "fk_content_item_2024_parent".into(),
                on: "content_item_2024".into(),
                kind: "f".into(),
                definition: "FOREIGN KEY (parent_id) REFERENCES content_item_root(id)".into(),
                columns: vec!["parent_id".into()],
                foreign_schema: false,
            },
            PgConstraint {
                name: "fk_content_item_region".into(),
                on: "content_item".into(),
                kind: "f".into(),
                definition: "FOREIGN KEY (region_id) REFERENCES geo.region(id)".into(),
                columns: vec!["region_id".into()],
                foreign_schema: true,
            },
        ],
        indexes: vec![
            PgIndex {
                name: "ix_content_item_id_mod".into(),
                on: "content_item".into(),
                definition: "CREATE INDEX ix_content_item_id_mod ON ONLY content_item USING btree (((id % (10)::bigint)))".into(),
                columns: vec!["id".into()],
                computed: true,
            },
            PgIndex {
                name: "uq_content_item_slug".into(),
                on: "content_item".into(),
                definition: "CREATE UNIQUE INDEX uq_content_item_slug ON ONLY content_item USING btree (slug, published_on) WHERE (slug IS NOT NULL)".into(),
                columns: vec!["slug".into(), "published_on".into()],
                computed: true,
            },
        ],
        rules: vec!["CREATE RULE content_item_no_delete AS ON DELETE TO content_item DO INSTEAD NOTHING;".into()],
        policies: vec![
            PgPolicy {
                name: "published".into(),
                definition: "CREATE POLICY published ON content_item AS PERMISSIVE FOR SELECT TO PUBLIC USING ((status <> 'draft'::content_status))".into(),
                columns: vec!["status".into()],
            },
            // Over a converted key: left out.
            PgPolicy {
                name: "own".into(),
                definition: "CREATE POLICY own ON content_item AS PERMISSIVE FOR ALL TO PUBLIC USING ((author_id = 5))".into(),
                columns: vec!["author_id".into()],
            },
        ],
        comment: Some("what the site shows".into()),
        ..PgTable::default()
    };
    Table {
        name: "content_item".into(),
        columns: vec![
            id,
            column("parent_id", "bigint", true),
            column("author_id", "integer", true),
            title,
            column("slug", "slug", true),
            status,
            revision,
            column("published_on", "date", false),
            title_length,
        ],
        primary_key: vec!["id".into(), "published_on".into()],
        foreign_keys: vec![ForeignKey {
            name: "fk_content_item_author".into(),
            columns: vec!["author_id".into()],
            ref_schema: None,
            ref_table: "user".into(),
            ref_columns: vec!["id".into()],
            on_delete: "SET NULL".into(),
            on_update: "NO ACTION".into(),
        }],
        partitioning: Some("RANGE (published_on)".into()),
        create_sql: Some(extra.to_json()),
        ..Table::default()
    }
}

fn swaps() -> Vec<Swap> {
    ["id", "parent_id", "author_id"]
        .iter()
        .map(|c| Swap {
            column: c.to_string(),
            shadow: format!("{c}_upk_copy"),
            uuid_type: "uuid".into(),
            nullable: *c != "id",
        })
        .collect()
}

fn backend() -> PostgresBackend {
    PostgresBackend::new(
        DbUrl::parse("postgres://rekey@db/blog_data", &crate::url::ProcessEnv).unwrap(),
    )
}

#[test]
fn statements_for_a_representative_table() {
    let b = backend();
    let source = DbUrl::parse("postgres://rekey@db/blog", &crate::url::ProcessEnv).unwrap();
    let t = content_item();
    let mut shadowed = t.clone();
    for s in swaps() {
        shadowed.columns.push(column(&s.shadow, "uuid", true));
    }
    shadowed.columns.push(column("id_ipk_copy", "bigint", true));
    let what = Unconstrain {
        foreign_keys: vec!["fk_content_item_author".into()],
        primary_key: true,
        indexes: vec![
            "ix_content_item_id_mod".into(),
            "uq_content_item_slug".into(),
        ],
        checks: vec!["ck_content_item_id".into()],
    };
    let trigger = Trigger {
        name: "trg_title".into(),
        table: "content_item".into(),
        create_sql: "CREATE TRIGGER trg_title BEFORE INSERT ON content_item FOR EACH ROW EXECUTE FUNCTION title_upper()".into(),
        setup: vec!["CREATE OR REPLACE FUNCTION title_upper() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$".into()],
        runs_as: None,
        enabled: Some("A".into()),
    };
    let fill_with = |from: &dyn Fn(&str) -> FillFrom| FillJob {
        table: &t,
        columns: t
            .writable_columns()
            .map(|c| FillColumn {
                name: c.name.clone(),
                from: from(&c.name),
            })
            .collect(),
        order_by: Some("id".into()),
        format: UuidFormat::Char32,
        arrival: Arrival::InKeyOrder,
        unique_keys: &[],
        marker: "/* rekey:0 */ ",
        resume_after: None,
        on_chunk: &|_| Ok(()),
    };
    let mapped = fill_with(&|name| match name {
        "id" => FillFrom::OwnKey {
            map: "\"_rekey_map_content_item\"".into(),
        },
        "parent_id" => FillFrom::Reference {
            map: "\"_rekey_map_content_item\"".into(),
        },
        "author_id" => FillFrom::Reference {
            map: "\"_rekey_map_user\"".into(),
        },
        _ => FillFrom::Value,
    });
    let derived = |table: &str| {
        FillFrom::Derived(DerivedKey {
            secret: crate::uuidgen::Secret::from_seed(7),
            base_ms: 1_700_000_000_000,
            table: table.into(),
            version: UuidVersion::V7,
        })
    };
    // Every key derived: one COPY, keys computed in the stream.
    let direct = fill_with(&|name| match name {
        "id" | "parent_id" => derived("content_item"),
        "author_id" => derived("user"),
        _ => FillFrom::Value,
    });
    // A mapped reference: the staging table, the derived keys computed in SQL.
    let mixed = fill_with(&|name| match name {
        "id" | "parent_id" => derived("content_item"),
        "author_id" => FillFrom::Reference {
            map: "\"_rekey_map_user\"".into(),
        },
        _ => FillFrom::Value,
    });
    let mut schema = Schema {
        tables: vec![t.clone()],
        ..Schema::default()
    };
    schema.views.push(View {
        name: "item_counts".into(),
        definition: String::new(),
        create_sql: Some("CREATE MATERIALIZED VIEW item_counts AS SELECT 1 WITH NO DATA;".into()),
    });
    let sections = [
        ("clone", b.clone_table_sql(&source, &t).unwrap()),
        ("unconstrain", b.unconstrain_sql(&t, &what)),
        (
            "swap",
            b.swap_sql(&shadowed, &swaps(), &["id_ipk_copy".into()]),
        ),
        (
            "swap again (already swapped)",
            b.swap_sql(&t, &swaps(), &["id_ipk_copy".into()]),
        ),
        ("fill", b.fill_table_sql(&source, &mapped).unwrap()),
        (
            "fill, keys derived",
            b.fill_table_sql(&source, &direct).unwrap(),
        ),
        (
            "fill, keys derived, a reference mapped",
            b.fill_table_sql(&source, &mixed).unwrap(),
        ),
        ("derive", b.derive_table_sql(&source, &t, &swaps()).unwrap()),
        ("derive constraints", b.derive_constraints_sql(&t, &swaps())),
        (
            "derive, kept if the server accepts them over UUIDs",
            b.derive_optional_sql(&t, &swaps())
                .into_iter()
                .map(|(what, sql)| format!("-- {what}\n{sql}"))
                .collect(),
        ),
        ("trigger: create", b.create_trigger_sql(&trigger)),
        ("trigger: set aside", b.set_aside_trigger_sql(&trigger)),
        ("trigger: restore", b.restore_trigger_sql(&trigger)),
        ("after load", b.after_load_sql(&schema)),
    ];
    let text: String = sections
        .iter()
        .map(|(name, sql)| format!("-- {name}\n{}\n", sql.join(";\n")))
        .collect();
    insta::assert_snapshot!(text);
}

#[test]
fn binary_values_become_exact_values() {
    assert_eq!(
        to_value(&Type::INT4, Some(&(-5i32).to_be_bytes())),
        Value::Int(-5)
    );
    assert_eq!(
        to_value(&Type::INT8, Some(&i64::MIN.to_be_bytes())),
        Value::Int(i64::MIN)
    );
    assert_eq!(to_value(&Type::INT2, None), Value::Null);
    let bits = f64::from_bits(0x0000_0000_0000_0001);
    assert_eq!(
        to_value(&Type::FLOAT8, Some(&bits.to_bits().to_be_bytes())),
        Value::Real(bits)
    );
    assert_eq!(
        to_value(&Type::FLOAT4, Some(&1.5f32.to_be_bytes())),
        Value::Real(1.5)
    );
    assert_eq!(
        to_value(&Type::TEXT, Some(b"a\tb")),
        Value::Text(b"a\tb".to_vec())
    );
    assert_eq!(
        to_value(&Type::JSONB, Some(b"\x01{\"a\": 1}")),
        Value::Text(b"{\"a\": 1}".to_vec())
    );
    assert_eq!(
        to_value(&Type::BYTEA, Some(&[0, 255])),
        Value::Blob(vec![0, 255])
    );
    assert_eq!(
        to_value(&Type::BOOL, Some(&[1])),
        Value::Text(b"t".to_vec())
    );
    let id = uuid::Uuid::from_u128(0xa0ee_bc99_9c0b_4ef8_bb6d_6bb9_bd38_0a11);
    assert_eq!(
        to_value(&Type::UUID, Some(id.as_bytes())),
        Value::Text(b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".to_vec())
    );
    // An array names its element type by OID, which differs between databases for user types.
    let mut array = Vec::new();
    for v in [1i32, 0, 16385, 1, 1] {
        array.extend_from_slice(&v.to_be_bytes());
    }
    let Value::Blob(canonical) = to_value(&Type::INT4_ARRAY, Some(&array)) else {
        panic!("arrays are bytes")
    };
    assert_eq!(&canonical[8..12], &[0, 0, 0, 0]);
    // Every other type: its binary form, unchanged (numeric, timestamps, ...).
    assert_eq!(
        to_value(&Type::NUMERIC, Some(&[0, 1, 0, 0])),
        Value::Blob(vec![0, 1, 0, 0])
    );
}

#[test]
fn sessions_are_named_after_the_run_of_their_first_marked_statement() {
    use super::session::tag_for;
    assert_eq!(
        tag_for("/* rekey:0a1b2c */ ALTER TABLE x").as_deref(),
        Some("SET application_name = 'rekey:0a1b2c';\n")
    );
    assert_eq!(tag_for("SELECT 1"), None);
    assert_eq!(tag_for("/* rekey:x'; DROP */ SELECT 1"), None);
}
