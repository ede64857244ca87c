//! The texts of the help: what every command writes, with examples, the databases' URLs and
//! password sources, and the exit codes. Kept apart from the options so that both read easily.

/// Shown after the help of every command that reaches a database (`--help` only). Its engines,
/// URL schemes and DB_TYPE values come from the table the URL parser reads (`url::ENGINES`).
pub fn databases() -> String {
    use rekey::url::{db_type_values, ENGINES};
    let forms: Vec<(String, String)> = ENGINES
        .iter()
        .map(|n| {
            let also: Vec<String> = n.schemes[1..].iter().map(|s| format!("{s}://")).collect();
            let products = if also.is_empty() {
                n.products.to_string()
            } else {
                format!("{}; also {}", n.products, also.join(", "))
            };
            (format!("{}://{}", n.schemes[0], n.form), products)
        })
        .collect();
    let width = forms.iter().map(|(f, _)| f.len()).max().unwrap_or(0);
    let mut s = String::from("Database URLs and passwords:\n  A URL is one of:\n");
    for (form, products) in &forms {
        s.push_str(&format!("    {form:<width$}  ({products})\n"));
    }
    s.push_str(&wrap(
        &format!(
            "or a bare database name completed from the environment the application uses: DB_TYPE ({}), DB_HOST, DB_PORT, DB_USER (without it, the login name $USER, as the mysql and psql clients take it). DB_MAX_RETRIES and DB_RETRY_DELAY (seconds) set how long rekey waits for a server that is still starting.",
            db_type_values()
        ),
        "  ",
    ));
    s.push_str(
        "  Passwords need not be on the command line (where `ps` shows them). For a URL without one, the
  first found is used: --password-file FILE, DB_PASS, MYSQL_PWD, the [client] section of ~/.my.cnf
  (PostgreSQL: PGPASSWORD, ~/.pgpass), or a prompt when a terminal is attached.",
    );
    s
}

/// `text` in lines of at most 98 columns, each starting with `indent`.
fn wrap(text: &str, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::from(indent);
    for word in text.split(' ') {
        if line.len() > indent.len() && line.len() + 1 + word.len() > 98 {
            out.push_str(&line);
            out.push('\n');
            line = String::from(indent);
        }
        if line.len() > indent.len() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

pub const EXIT_CODES: &str = "\
Exit codes:
  0  done (and verified, for run and verify)
  1  verify or compare found differences (listed on standard output and in the report)
  2  bad usage or input: orphan references, an existing DB_DATA, a non-empty DB_FINAL, a run
     directory another rekey process is working in
  3  server or environment problem (connection, privilege, setting, disk), or an interrupted run
     (Ctrl-C, once to stop at the next safe point, twice to stop at once): run the same command
     again with --resume";

pub const START: &str = "\
Start here:
  rekey demo          the whole cutover on a small SQLite blog database: nothing to set up

A rehearsal on a copy of your database (MariaDB/MySQL shown; sqlite://FILE.db works the same):
  1. rekey check --source mysql://migrator@db/shop --data mysql://migrator@db/shop_data \\
                 --final mysql://migrator@db/shop_new
  2. rekey plan --source mysql://migrator@db/shop
  3. rekey run --source mysql://migrator@db/shop --data mysql://migrator@db/shop_data \\
               --final mysql://migrator@db/shop_new --run-dir rehearsal-1
  4. rekey status --run-dir rehearsal-1       (from a second terminal, while it runs)
  Then read rehearsal-1/report.md, and report.html for the timeline.
  SOURCE is only read. DB_DATA must not exist: rekey creates it. DB_FINAL is the empty schema the
  application's migrations create for the new version; without one, add --derive-final to check and
  run, and rekey creates DB_FINAL from SOURCE's schema. `rekey clean --run-dir rehearsal-1` drops
  what a rehearsal created, to start over. `rekey help COMMAND` shows a command's examples.";

/// Per command: examples, and what it writes.
pub const COMMAND_HELP: &[(&str, &str)] = &[
    (
        "plan",
        "\
Examples:
  rekey plan --source mysql://migrator@db/shop
  rekey plan --source sqlite://shop.db --exclude audit_log --json > plan.json
  rekey plan --source mysql://migrator@db/shop --estimate-from rehearsal-1
  rekey plan --source mysql://migrator@db/shop --app ./myapp

Writes: nothing. Reads SOURCE's catalog and prints, per table, what will happen to it, then the
references, the tables that keep their keys and the warnings.",
    ),
    (
        "check",
        "\
Examples:
  rekey check --source mysql://migrator@db/shop --data mysql://migrator@db/shop_data \\
              --final mysql://migrator@db/shop_new
  rekey check --source sqlite://shop.db --data sqlite://shop_data.db --final sqlite://shop_new.db \\
              --derive-final

Writes: nothing. Prints one line per check, ok or FAIL with the GRANT or setting that fixes it.
Exit 2 when the databases themselves are the problem (orphans, an existing DB_DATA), 3 for the
environment.",
    ),
    (
        "convert",
        "\
Examples:
  rekey convert --source mysql://migrator@db/shop --data mysql://migrator@db/shop_data \\
                --run-dir cutover
  rekey convert --source sqlite://shop.db --data sqlite://shop_data.db --dry-run

Writes: DB_DATA (created; SOURCE is only read) and, in --run-dir, journal.sqlite,
map/<table>.csv (old_id,new_id), report.json, report.md and report.html.",
    ),
    (
        "derive-final",
        "\
Examples:
  rekey derive-final --source mysql://migrator@db/shop --final mysql://migrator@db/shop_new \\
                     --run-dir cutover

Writes: DB_FINAL (created: SOURCE's tables with UUID key columns, foreign keys, views and
triggers) and the journal and reports in --run-dir.",
    ),
    (
        "compare",
        "\
Examples:
  rekey compare --data mysql://migrator@db/shop_data --final mysql://migrator@db/shop_new \\
                --run-dir cutover

Writes: nothing to the databases. Prints one line per difference (exit 1 when there is any);
the reports go to --run-dir.",
    ),
    (
        "load",
        "\
Examples:
  rekey load --data mysql://migrator@db/shop_data --final mysql://migrator@db/shop_new \\
             --run-dir cutover

Writes: DB_FINAL's rows. DB_FINAL must be empty but for the migration tool's bookkeeping table
(alembic_version, django_migrations...), which keeps its rows. Its triggers are set aside and put
back exactly. The journal and reports go to --run-dir.",
    ),
    (
        "verify",
        "\
Examples:
  rekey verify --source mysql://migrator@db/shop --final mysql://migrator@db/shop_new \\
               --run-dir cutover

Writes: nothing to the databases. Reads the run's map/*.csv and compares every row and reference
of SOURCE with DB_FINAL; exit 1 on any difference. The reports go to --run-dir.",
    ),
    (
        "run",
        "\
Examples:
  rekey run --source mysql://migrator@db/shop --data mysql://migrator@db/shop_data \\
            --final mysql://migrator@db/shop_new --run-dir rehearsal-1
  rekey run --source sqlite://shop.db --data sqlite://shop_data.db --final sqlite://shop_new.db \\
            --derive-final --run-dir rehearsal-1
  rekey run ... --run-dir rehearsal-1 --resume     (after an interruption: the same command)
  rekey status --run-dir rehearsal-1               (from a second terminal)

Writes: DB_DATA (created), DB_FINAL's rows (or DB_FINAL itself with --derive-final) and, in
--run-dir, journal.sqlite, map/<table>.csv, report.json, report.md and report.html (the
timeline of every table's stages).
  With --follow (the site stays up): also <DB_DATA>_snapshot (SOURCE's snapshot copy, dropped by
the cutover), DB_FINAL's _rekey_follow table (the follower's position, dropped by the cutover),
and on PostgreSQL a replication slot rekey_<run id> on SOURCE (released by cutover or clean).",
    ),
    (
        "cutover",
        "\
Examples:
  rekey run --follow --source mysql://migrator@db/shop --data mysql://migrator@db/shop_data \\
            --final mysql://migrator@db/shop_new --run-dir live     (keeps running)
  rekey status --run-dir live          (says following, with the lag)
  # stop the application's writes to SOURCE, then:
  rekey cutover --run-dir live

Writes: DB_FINAL (SOURCE's last changes, its triggers and sequences restored, _rekey_follow
dropped); drops the snapshot copy and releases the replication slot; report.* in --run-dir.
Prints the write freeze: seconds from its start to a verified DB_FINAL. Exit 1 when a row the
follower changed differs from SOURCE (DB_FINAL is then not handed over).",
    ),
    (
        "status",
        "\
Examples:
  rekey status --run-dir cutover
  rekey status --run-dir cutover --rehearsal rehearsal-1 --json

Writes: nothing. Reads --run-dir/journal.sqlite read-only and never waits for the run, so it is
safe while the run is going. Says whether the process still lives, and what to do next.",
    ),
    (
        "clean",
        "\
Examples:
  rekey clean --run-dir rehearsal-1
  rekey clean --run-dir rehearsal-1 --dry-run
  rekey clean --run-dir rehearsal-1 --remove-maps

Writes: drops DB_DATA and a derived DB_FINAL that the journal says this run created (never
SOURCE, never a database it did not create, never a derived DB_FINAL a verified run handed over
to the application), and puts back DB_FINAL's triggers that an interrupted load set aside. Keeps
map/ and orphans/ (old id -> new id) unless --remove-maps. --dry-run lists each of these and does
nothing.",
    ),
    (
        "demo",
        "\
Examples:
  rekey demo
  rekey demo --dir /tmp/rekey-demo

Writes: in --dir, source.db (the blog, integer keys), final.db (its UUID schema), data.db, and
run/ with the journal, map files, report.md and report.html. Nothing else there is touched.",
    ),
    (
        "audit",
        "\
Examples:
  rekey audit ./myapp
  rekey audit --source mysql://migrator@db/shop ./myapp
  rekey audit --sarif ./myapp > rekey-audit.sarif
  rekey audit --json ./myapp | jq '.[] | select(.rule == \"sql-formatted-id\")'

Writes: nothing. Reads the application's Python, Ruby, PHP, JavaScript and TypeScript files and
lists, per file, every place that assumes integer ids (routes, casts, integer checks, model
columns, SQL formatted with ids, ordering and paging by the key), each with what to write instead.
Exit 1 when it finds any. The rules: docs/audit.md.",
    ),
    (
        "completions",
        "\
Examples:
  rekey completions bash > /etc/bash_completion.d/rekey
  rekey completions zsh > \"${fpath[1]}/_rekey\"
  rekey completions fish > ~/.config/fish/completions/rekey.fish

Writes: the script, to standard output.",
    ),
    (
        "man",
        "\
Examples:
  rekey man > rekey.1 && man ./rekey.1
  rekey man --dir /usr/local/share/man/man1

Writes: rekey.1 to standard output, or with --dir one page per command (rekey.1,
rekey-run.1...).",
    ),
];

/// Commands whose help also names the databases' environment and the password sources.
pub const REACH_DATABASES: &[&str] = &[
    "plan",
    "check",
    "convert",
    "derive-final",
    "compare",
    "load",
    "cutover",
    "verify",
    "run",
    "clean",
    "audit",
];
