//! The application of the live benchmark (`scripts/bench.sh SCALE RUNS live ENGINE`): writes to
//! SOURCE at a steady rate of row writes per second while rekey converts and follows it, the mix
//! a site makes (new parents with children, updates, a parent's delete that cascades to its
//! children, a reference re-pointed), on two tables of its own next to the benchmark's shape.
//!
//!   live_writer setup URL            create and seed live_parent and live_child
//!   live_writer run URL RATE STOPFILE  write RATE row writes/s until STOPFILE exists; prints
//!                                    the row writes made and the seconds taken
//!
//! URL: mysql://user@host:port/db or postgres://user@host:port/db.

use std::time::{Duration, Instant};

enum Db {
    My(mysql::Conn),
    Pg(Box<postgres::Client>),
}

impl Db {
    fn open(url: &str) -> Db {
        if url.starts_with("mysql://") {
            Db::My(
                mysql::Conn::new(mysql::Opts::from_url(url).expect("a mysql:// URL"))
                    .expect("connect"),
            )
        } else {
            Db::Pg(Box::new(
                postgres::Client::connect(url, postgres::NoTls).expect("connect"),
            ))
        }
    }
    /// Runs one statement; returns the rows it changed.
    fn exec(&mut self, sql: &str) -> u64 {
        match self {
            Db::My(c) => {
                use mysql::prelude::Queryable;
                c.query_drop(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
                c.affected_rows()
            }
            Db::Pg(c) => c.execute(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}")),
        }
    }
    fn count(&mut self, sql: &str) -> u64 {
        match self {
            Db::My(c) => {
                use mysql::prelude::Queryable;
                c.query_first::<u64, _>(sql).ok().flatten().unwrap_or(0)
            }
            Db::Pg(c) => c
                .query_one(sql, &[])
                .map(|r| r.get::<_, i64>(0) as u64)
                .unwrap_or(0),
        }
    }
}

const SEED_PARENTS: u64 = 1000;

fn setup(db: &mut Db) {
    db.exec("DROP TABLE IF EXISTS live_child");
    db.exec("DROP TABLE IF EXISTS live_parent");
    db.exec("CREATE TABLE live_parent (id BIGINT NOT NULL PRIMARY KEY, note VARCHAR(40) NOT NULL)");
    db.exec("CREATE TABLE live_child (id BIGINT NOT NULL PRIMARY KEY, parent_id BIGINT NOT NULL, note VARCHAR(40) NOT NULL, FOREIGN KEY (parent_id) REFERENCES live_parent (id) ON DELETE CASCADE)");
    let parents: Vec<String> = (1..=SEED_PARENTS)
        .map(|i| format!("({i}, 'p{i}')"))
        .collect();
    db.exec(&format!(
        "INSERT INTO live_parent VALUES {}",
        parents.join(", ")
    ));
    let children: Vec<String> = (1..=3 * SEED_PARENTS)
        .map(|i| format!("({i}, {}, 'c{i}')", (i - 1) / 3 + 1))
        .collect();
    db.exec(&format!(
        "INSERT INTO live_child VALUES {}",
        children.join(", ")
    ));
}

fn run(db: &mut Db, rate: f64, stop: &std::path::Path) {
    let start = Instant::now();
    let mut writes = 0u64;
    let mut txns = 0u64;
    let mut next = SEED_PARENTS + 1;
    let mut oldest = 1u64;
    let begin = match db {
        Db::My(_) => "START TRANSACTION",
        Db::Pg(_) => "BEGIN",
    };
    while !stop.exists() {
        // Keep to the rate: sleep until the writes made so far are due.
        let due = Duration::from_secs_f64(writes as f64 / rate);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        let p = next;
        next += 1;
        db.exec(begin);
        writes += db.exec(&format!("INSERT INTO live_parent VALUES ({p}, 'p{p}')"));
        writes += db.exec(&format!(
            "INSERT INTO live_child VALUES ({a}, {p}, 'c{a}'), ({b}, {p}, 'c{b}'), ({c}, {p}, 'c{c}')",
            a = 3 * p - 2,
            b = 3 * p - 1,
            c = 3 * p
        ));
        writes += db.exec(&format!(
            "UPDATE live_child SET note = 'edited {txns}' WHERE parent_id = {}",
            p - 1
        ));
        writes += db.exec(&format!(
            "UPDATE live_child SET parent_id = {p} WHERE id = {}",
            3 * (p - 2)
        ));
        writes += db.exec(&format!(
            "UPDATE live_parent SET note = 'edited {txns}' WHERE id = {}",
            p - 3
        ));
        // The oldest parent goes, its children with it (ON DELETE CASCADE).
        let children = db.count(&format!(
            "SELECT COUNT(*) FROM live_child WHERE parent_id = {oldest}"
        ));
        writes += db.exec(&format!("DELETE FROM live_parent WHERE id = {oldest}")) + children;
        oldest += 1;
        db.exec("COMMIT");
        txns += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "writes {writes} transactions {txns} seconds {secs:.2} rate {:.0}",
        writes as f64 / secs
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("setup") if args.len() == 3 => setup(&mut Db::open(&args[2])),
        Some("run") if args.len() == 5 => run(
            &mut Db::open(&args[2]),
            args[3].parse().expect("RATE: row writes per second"),
            std::path::Path::new(&args[4]),
        ),
        _ => {
            eprintln!("usage: live_writer setup URL | live_writer run URL RATE STOPFILE");
            std::process::exit(2);
        }
    }
}
