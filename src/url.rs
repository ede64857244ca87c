//! Database URLs: parsing, completion of bare names from the application's DB_* environment, and the
//! one helper that redacts passwords from anything rekey writes.

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::error::{Error, Result};

/// The engines rekey knows. The URL scheme picks one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Mysql,
    Sqlite,
    Postgres,
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Engine::Mysql => "mysql",
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        })
    }
}

/// How a user names one engine: its URL schemes and DB_TYPE values. The URL parser and the help
/// both read `ENGINES`, so the help names every engine and spelling the parser accepts.
#[derive(Debug)]
pub struct EngineNames {
    pub engine: Engine,
    /// The products it reaches, as the help names them.
    pub products: &'static str,
    /// URL schemes (`SCHEME://...`); the first is the one the help's form uses.
    pub schemes: &'static [&'static str],
    /// Values of DB_TYPE for a bare database name; the first is the one the help suggests.
    pub db_types: &'static [&'static str],
    /// The URL's form after `SCHEME://`, as the help shows it.
    pub form: &'static str,
    /// The port a server URL without one gets (0: not a server).
    pub default_port: u16,
}

/// Every engine rekey knows, in the order the help lists them.
pub const ENGINES: &[EngineNames] = &[
    EngineNames {
        engine: Engine::Mysql,
        products: "MariaDB, MySQL",
        schemes: &["mysql", "mariadb"],
        db_types: &["mysql", "mariadb"],
        form: "USER@HOST:PORT/DB",
        default_port: 3306,
    },
    EngineNames {
        engine: Engine::Postgres,
        products: "PostgreSQL",
        schemes: &["postgres", "postgresql"],
        db_types: &["postgresql", "postgres"],
        form: "USER@HOST:PORT/DB?schema=NAME",
        default_port: 5432,
    },
    EngineNames {
        engine: Engine::Sqlite,
        products: "SQLite",
        schemes: &["sqlite"],
        db_types: &["sqlite", "sqlite3"],
        form: "PATH/FILE.db",
        default_port: 0,
    },
];

impl Engine {
    /// This engine's names (every engine has a row in `ENGINES`).
    pub fn names(self) -> &'static EngineNames {
        ENGINES
            .iter()
            .find(|n| n.engine == self)
            .unwrap_or(&ENGINES[0])
    }

    /// The engine a URL scheme names (case as written: schemes are lower case).
    pub fn by_scheme(scheme: &str) -> Option<Engine> {
        ENGINES
            .iter()
            .find(|n| n.schemes.contains(&scheme))
            .map(|n| n.engine)
    }

    /// The engine a DB_TYPE value names, in any case.
    pub fn by_db_type(db_type: &str) -> Option<Engine> {
        let lower = db_type.to_ascii_lowercase();
        ENGINES
            .iter()
            .find(|n| n.db_types.contains(&lower.as_str()))
            .map(|n| n.engine)
    }
}

/// `a, b or c`.
fn either(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Every URL form, `mysql://USER@HOST:PORT/DB, postgres://...`, for messages.
pub fn url_forms() -> String {
    let forms: Vec<String> = ENGINES
        .iter()
        .map(|n| format!("{}://{}", n.schemes[0], n.form))
        .collect();
    either(&forms.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Every DB_TYPE value the parser accepts, `mysql, mariadb, ... or sqlite3`.
pub fn db_type_values() -> String {
    either(
        &ENGINES
            .iter()
            .flat_map(|n| n.db_types.iter().copied())
            .collect::<Vec<_>>(),
    )
}

/// A parsed database location. `Display` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl {
    pub engine: Engine,
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: String,
    pub port: u16,
    /// Database name (MySQL, PostgreSQL) or file path (SQLite).
    pub database: String,
    /// PostgreSQL: the schema rekey works in (`?schema=NAME`); `None` means `public`.
    pub schema: Option<String>,
    /// How often and how long to wait for a server that is still starting.
    pub retries: u32,
    pub retry_delay: Duration,
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DbUrl({self})")
    }
}

impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.engine {
            Engine::Sqlite => write!(f, "sqlite://{}", self.database),
            _ => {
                write!(f, "{}://", self.engine)?;
                if let Some(u) = &self.user {
                    write!(f, "{u}")?;
                    if self.password.is_some() {
                        write!(f, ":***")?;
                    }
                    write!(f, "@")?;
                }
                write!(f, "{}:{}/{}", self.host, self.port, self.database)?;
                if let Some(schema) = &self.schema {
                    write!(f, "?schema={schema}")?;
                }
                Ok(())
            }
        }
    }
}

fn secrets() -> &'static Mutex<BTreeSet<String>> {
    static SECRETS: OnceLock<Mutex<BTreeSet<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(BTreeSet::new()))
}

/// Remembers a password so that `redact` removes it from every text rekey writes.
pub fn register_secret(secret: &str) {
    if secret.len() >= 2 {
        if let Ok(mut set) = secrets().lock() {
            set.insert(secret.to_string());
        }
    }
}

/// Replaces every known password (and the password part of any URL) in `text` by `***`.
/// Everything that leaves rekey (errors, reports, the journal, progress lines) passes through here.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    if let Ok(set) = secrets().lock() {
        // Longest first so that a password containing another one is removed whole.
        let mut all: Vec<&String> = set.iter().collect();
        all.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for s in all {
            out = out.replace(s.as_str(), "***");
        }
    }
    redact_url_passwords(&out)
}

/// `scheme://user:pass@host` -> `scheme://user:***@host`, for URLs rekey did not parse itself,
/// including ones that cannot be parsed: a password may hold an unencoded `/`, `@` or `:`, so
/// everything between the user name and the URL's last `@` is hidden.
fn redact_url_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '`'))
            .unwrap_or(tail.len());
        let token = &tail[..end];
        match token.rfind('@') {
            Some(at) => {
                let userinfo = &token[..at];
                match userinfo.find(':') {
                    Some(colon) if !userinfo[..colon].contains('/') => {
                        out.push_str(&userinfo[..colon]);
                        out.push_str(":***");
                    }
                    // A user name alone holds no secret.
                    None if !userinfo.contains('/') => out.push_str(userinfo),
                    _ => out.push_str("***"),
                }
                out.push_str(&token[at..]);
            }
            None => out.push_str(token),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// The environment a bare database name is completed from. Injected so tests need not touch the
/// process environment.
pub trait Env {
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.is_empty())
    }
}

impl DbUrl {
    /// Parses `mysql://user:pass@host:port/db`, `sqlite://path`, `postgres://...`, or a bare database
    /// name completed from DB_TYPE, DB_HOST, DB_PORT, DB_USER, DB_PASS.
    pub fn parse(text: &str, env: &dyn Env) -> Result<DbUrl> {
        let retries = env
            .get("DB_MAX_RETRIES")
            .map(|v| parse_env_number(&v, "DB_MAX_RETRIES"))
            .transpose()?
            .unwrap_or(5) as u32;
        let retry_delay = Duration::from_secs(
            env.get("DB_RETRY_DELAY")
                .map(|v| parse_env_number(&v, "DB_RETRY_DELAY"))
                .transpose()?
                .unwrap_or(2),
        );
        let file_path = ENGINES
            .iter()
            .filter(|n| n.engine == Engine::Sqlite)
            .flat_map(|n| n.schemes.iter())
            .find_map(|scheme| text.strip_prefix(&format!("{scheme}://")));
        let mut parsed = if let Some(path) = file_path {
            if path.is_empty() {
                return Err(Error::usage(
                    "the SQLite URL `sqlite://` names no file.",
                    "Write sqlite://path/to/file.db (relative) or sqlite:///abs/path.db.",
                ));
            }
            DbUrl::sqlite(PathBuf::from(path))
        } else if text.contains("://") {
            parse_server_url(text)?
        } else {
            from_env(text, env)?
        };
        parsed.retries = retries;
        parsed.retry_delay = retry_delay;
        if let Some(p) = &parsed.password {
            register_secret(p);
        }
        Ok(parsed)
    }

    pub fn sqlite(path: PathBuf) -> DbUrl {
        DbUrl {
            engine: Engine::Sqlite,
            user: None,
            password: None,
            host: String::new(),
            port: 0,
            database: path.to_string_lossy().into_owned(),
            schema: None,
            retries: 0,
            retry_delay: Duration::from_secs(0),
        }
    }

    /// The URL as the journal stores it: everything but the password, which is never stored
    /// (the password sources give it again on resume).
    pub fn stored(&self) -> String {
        match self.engine {
            // Absolute, so that `rekey clean` run from another directory finds the same file.
            Engine::Sqlite => format!(
                "sqlite://{}",
                std::path::absolute(&self.database)
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_else(|_| self.database.clone())
            ),
            _ => {
                let user = self
                    .user
                    .as_deref()
                    .map(|u| format!("{}@", percent_encoding::utf8_percent_encode(u, USERINFO)))
                    .unwrap_or_default();
                format!(
                    "{}://{user}{}:{}/{}{}",
                    self.engine,
                    self.host,
                    self.port,
                    percent_encoding::utf8_percent_encode(&self.database, PATH_SEGMENT),
                    self.stored_query()
                )
            }
        }
    }

    /// `?schema=NAME` where the URL names one: the run's databases are in that schema, so the
    /// journal, the report and `rekey clean` must keep it.
    fn stored_query(&self) -> String {
        self.schema
            .as_deref()
            .map(|s| {
                format!(
                    "?schema={}",
                    percent_encoding::utf8_percent_encode(s, PATH_SEGMENT)
                )
            })
            .unwrap_or_default()
    }

    /// The same server (and so one connection can reach both databases).
    pub fn same_server(&self, other: &DbUrl) -> bool {
        self.engine == other.engine
            && self.engine != Engine::Sqlite
            && normal_host(&self.host) == normal_host(&other.host)
            && self.port == other.port
    }

    /// The server runs on this machine, so files it writes can be reached (and removed) by rekey.
    pub fn is_local_host(&self) -> bool {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        normal_host(host) == "127.0.0.1"
            || host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// The schema a PostgreSQL URL works in: `?schema=NAME`, else `public`.
    pub fn schema_or_public(&self) -> &str {
        self.schema.as_deref().unwrap_or("public")
    }
}

/// Characters escaped in a stored URL's user name and database name.
const USERINFO: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'-')
    .remove(b'.');
const PATH_SEGMENT: &percent_encoding::AsciiSet = USERINFO;

fn normal_host(host: &str) -> &str {
    match host {
        "localhost" | "127.0.0.1" | "::1" | "[::1]" | "" => "127.0.0.1",
        h => h,
    }
}

fn parse_env_number(value: &str, name: &str) -> Result<u64> {
    value.trim().parse().map_err(|_| {
        Error::usage(
            format!("{name}={value} is not a whole number."),
            format!("Set {name} to a number such as 5, or unset it."),
        )
    })
}

fn parse_server_url(text: &str) -> Result<DbUrl> {
    let bad = |why: &str| {
        Error::usage(
            format!("the database URL `{}` {why}.", redact_url_passwords(text)),
            format!("Write it as {} (a password's reserved characters such as / @ : percent-encoded: %2F %40 %3A).", url_forms()),
        )
    };
    let parsed = url::Url::parse(text).map_err(|e| bad(&format!("cannot be parsed ({e})")))?;
    let engine = match Engine::by_scheme(parsed.scheme()) {
        Some(e) if e != Engine::Sqlite => e,
        _ => {
            return Err(bad(&format!(
                "has the unknown scheme `{}`",
                parsed.scheme()
            )))
        }
    };
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let user = Some(decode(parsed.username())).filter(|u| !u.is_empty());
    let password = parsed.password().map(decode);
    let host = parsed.host_str().unwrap_or("127.0.0.1").to_string();
    let port = parsed.port().unwrap_or(engine.names().default_port);
    let database = decode(parsed.path().trim_start_matches('/'));
    if database.is_empty() {
        return Err(bad("names no database"));
    }
    let mut schema = None;
    for (key, value) in parsed.query_pairs().filter(|_| engine == Engine::Postgres) {
        match key.as_ref() {
            "schema" if !value.is_empty() => schema = Some(value.into_owned()),
            _ => {
                return Err(bad(&format!(
                    "has the parameter `{key}`, which rekey does not know (PostgreSQL URLs take ?schema=NAME)"
                )))
            }
        }
    }
    Ok(DbUrl {
        engine,
        user,
        password,
        host,
        port,
        database,
        schema,
        retries: 0,
        retry_delay: Duration::from_secs(0),
    })
}

fn from_env(name: &str, env: &dyn Env) -> Result<DbUrl> {
    let db_type = env.get("DB_TYPE").ok_or_else(|| {
        Error::usage(
            format!("`{name}` is a bare database name but DB_TYPE is not set."),
            format!(
                "Give a full URL ({}) or set DB_TYPE to {} with DB_HOST, DB_PORT, DB_USER, DB_PASS.",
                url_forms(),
                db_type_values()
            ),
        )
    })?;
    let Some(engine) = Engine::by_db_type(&db_type) else {
        return Err(Error::usage(
            format!("DB_TYPE={db_type} is not an engine rekey knows."),
            format!("Set DB_TYPE to {}.", db_type_values()),
        ));
    };
    if engine == Engine::Sqlite {
        return Ok(DbUrl::sqlite(PathBuf::from(name)));
    }
    let port = match env.get("DB_PORT") {
        Some(p) => parse_env_number(&p, "DB_PORT")? as u16,
        None => engine.names().default_port,
    };
    // As the engine's own client (mysql, psql) does: without a user name, the login name.
    let user = env
        .get("DB_USER")
        .or_else(|| env.get("USER"))
        .or_else(|| env.get("LOGNAME"))
        .ok_or_else(|| {
            Error::usage(
                format!("`{name}` is a bare database name but neither DB_USER nor USER/LOGNAME names the account."),
                "Set DB_USER to the account rekey connects as, or give a full URL with the user.",
            )
        })?;
    Ok(DbUrl {
        engine,
        user: Some(user),
        password: env.get("DB_PASS"),
        host: env.get("DB_HOST").unwrap_or_else(|| "127.0.0.1".into()),
        port,
        database: name.to_string(),
        schema: None,
        retries: 0,
        retry_delay: Duration::from_secs(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct MapEnv(HashMap<&'static str, &'static str>);
    impl Env for MapEnv {
        fn get(&self, key: &str) -> Option<String> {
            self.0.get(key).map(|s| s.to_string())
        }
    }

    #[test]
    fn parses_mysql_url_and_hides_password() {
        let u = DbUrl::parse(
            "mysql://app:s3cr%40t@db.example:3307/shop",
            &MapEnv(HashMap::new()),
        )
        .unwrap();
        assert_eq!(u.engine, Engine::Mysql);
        assert_eq!(u.password.as_deref(), Some("s3cr@t"));
        assert_eq!(u.port, 3307);
        assert_eq!(u.database, "shop");
        assert_eq!(u.to_string(), "mysql://app:***@db.example:3307/shop");
        assert!(!redact("failed for s3cr@t").contains("s3cr@t"));
    }

    #[test]
    fn completes_bare_name_from_env() {
        let env = MapEnv(HashMap::from([
            ("DB_TYPE", "mysql"),
            ("DB_HOST", "10.0.0.5"),
            ("DB_PORT", "3310"),
            ("DB_USER", "migrator"),
            ("DB_PASS", "envpass99"),
            ("DB_MAX_RETRIES", "7"),
        ]));
        let u = DbUrl::parse("blog", &env).unwrap();
        assert_eq!(u.host, "10.0.0.5");
        assert_eq!(u.port, 3310);
        assert_eq!(u.user.as_deref(), Some("migrator"));
        assert_eq!(u.retries, 7);
        assert_eq!(redact("x envpass99 y"), "x *** y");
    }

    #[test]
    fn bare_name_without_db_type_is_usage_error() {
        let err = DbUrl::parse("blog", &MapEnv(HashMap::new())).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn postgres_urls_take_a_schema() {
        let env = MapEnv(HashMap::new());
        let u = DbUrl::parse("postgresql://app:pw99@db:5433/shop?schema=Sales", &env).unwrap();
        assert_eq!(u.engine, Engine::Postgres);
        assert_eq!(u.schema.as_deref(), Some("Sales"));
        assert_eq!(u.schema_or_public(), "Sales");
        assert_eq!(
            u.to_string(),
            "postgres://app:***@db:5433/shop?schema=Sales"
        );
        let u = DbUrl::parse("postgres://app@db/shop", &env).unwrap();
        assert_eq!((u.port, u.schema_or_public()), (5432, "public"));
        assert!(DbUrl::parse("postgres://app@db/shop?sslmode=x", &env).is_err());
        let pg = MapEnv(HashMap::from([
            ("DB_TYPE", "postgresql"),
            ("DB_USER", "app"),
        ]));
        let u = DbUrl::parse("shop", &pg).unwrap();
        assert_eq!((u.engine, u.port, u.schema), (Engine::Postgres, 5432, None));
    }

    #[test]
    fn sqlite_urls() {
        let u = DbUrl::parse("sqlite://dir/a.db", &MapEnv(HashMap::new())).unwrap();
        assert_eq!(u.engine, Engine::Sqlite);
        assert_eq!(u.database, "dir/a.db");
        let u = DbUrl::parse("sqlite:///abs/a.db", &MapEnv(HashMap::new())).unwrap();
        assert_eq!(u.database, "/abs/a.db");
    }

    #[test]
    fn stored_urls_hold_no_password_and_parse_back() {
        let env = MapEnv(HashMap::new());
        let u = DbUrl::parse("mysql://a%40b:pw%2Fx@h:3307/my%20db", &env).unwrap();
        let stored = u.stored();
        assert_eq!(stored, "mysql://a%40b@h:3307/my%20db");
        let back = DbUrl::parse(&stored, &env).unwrap();
        assert_eq!(back.user.as_deref(), Some("a@b"));
        assert_eq!(back.database, "my db");
        assert_eq!(back.password, None);
        let u = DbUrl::parse("postgres://app:pw@db:5432/shop?schema=My%20Sales", &env).unwrap();
        assert_eq!(u.stored(), "postgres://app@db:5432/shop?schema=My%20Sales");
        let back = DbUrl::parse(&u.stored(), &env).unwrap();
        assert_eq!(back.schema.as_deref(), Some("My Sales"));
    }

    #[test]
    fn loopback_addresses_are_local() {
        let env = MapEnv(HashMap::new());
        for host in ["127.0.0.1", "127.0.0.2", "localhost", "LOCALHOST", "[::1]"] {
            let u = DbUrl::parse(&format!("mysql://u@{host}:3306/d"), &env).unwrap();
            assert!(u.is_local_host(), "{host}");
        }
        for host in ["10.0.0.5", "db.example", "128.0.0.1"] {
            let u = DbUrl::parse(&format!("mysql://u@{host}:3306/d"), &env).unwrap();
            assert!(!u.is_local_host(), "{host}");
        }
    }

    #[test]
    fn a_bare_name_without_db_user_connects_as_the_login_name() {
        let env = MapEnv(HashMap::from([("DB_TYPE", "mariadb"), ("USER", "alice")]));
        let u = DbUrl::parse("shop", &env).unwrap();
        assert_eq!(u.user.as_deref(), Some("alice"));
        let env = MapEnv(HashMap::from([("DB_TYPE", "postgres"), ("LOGNAME", "bob")]));
        assert_eq!(
            DbUrl::parse("shop", &env).unwrap().user.as_deref(),
            Some("bob")
        );
        let env = MapEnv(HashMap::from([
            ("DB_TYPE", "mysql"),
            ("DB_USER", "app"),
            ("USER", "alice"),
        ]));
        assert_eq!(
            DbUrl::parse("shop", &env).unwrap().user.as_deref(),
            Some("app")
        );
        let err = DbUrl::parse("shop", &MapEnv(HashMap::from([("DB_TYPE", "mysql")]))).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("DB_USER"), "{err}");
    }

    #[test]
    fn every_engine_spelling_of_the_table_parses() {
        let env = MapEnv(HashMap::new());
        for names in ENGINES {
            for scheme in names.schemes {
                let u = DbUrl::parse(&format!("{scheme}://u@h/d"), &env).unwrap();
                assert_eq!(u.engine, names.engine, "{scheme}");
            }
            for db_type in names.db_types {
                assert_eq!(Engine::by_db_type(db_type), Some(names.engine));
            }
        }
        assert!(DbUrl::parse("oracle://u@h/d", &env).is_err());
    }

    #[test]
    fn a_password_that_breaks_the_url_is_never_echoed() {
        let env = MapEnv(HashMap::new());
        for text in [
            "mysql://app:se/cret99@db:3306/shop",
            "mysql://app:se/cr@t99@db/shop",
            "postgres://app:a:b/secret99@db/shop",
        ] {
            let err = DbUrl::parse(text, &env).unwrap_err().to_string();
            let shown = redact(&err);
            for part in ["se/cret99", "cret99", "cr@t99", "secret99", "t99"] {
                assert!(!shown.contains(part), "{shown}");
            }
            assert!(shown.contains("app:***@"), "{shown}");
        }
        assert_eq!(
            redact_url_passwords("`mysql://app:pa/ss@db/x` and mysql://u@h/d"),
            "`mysql://app:***@db/x` and mysql://u@h/d"
        );
    }

    #[test]
    fn redacts_foreign_urls() {
        assert_eq!(
            redact_url_passwords("see mysql://u:pw@h:1/d now"),
            "see mysql://u:***@h:1/d now"
        );
    }
}
