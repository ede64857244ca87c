//! Where a password comes from when the URL has none, so that it need not appear on a command
//! line (`ps` shows those): `--password-file`, DB_PASS, the engine's own variable (MYSQL_PWD,
//! PGPASSWORD), the engine's own file (~/.my.cnf `[client]`, ~/.pgpass or PGPASSFILE), and last a
//! prompt when a terminal is attached and the server refused the account without one.
//!
//! The two files are read here, not by a crate: INI readers (rust-ini) reject the bare options
//! every my.cnf has (`skip-ssl`), and no maintained crate reads .pgpass.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::url::{register_secret, DbUrl, Engine, Env};

/// Asks the person at the terminal for a password (main.rs provides it when stdin is a terminal).
pub type Prompt = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Fills `url.password` from the first source that has one, when the URL gives none. Returns the
/// name of the source used, for messages.
pub fn fill_password(
    url: &mut DbUrl,
    env: &dyn Env,
    password_file: Option<&Path>,
) -> Result<Option<&'static str>> {
    if url.password.is_some() || url.engine == Engine::Sqlite {
        return Ok(None);
    }
    let found: Option<(String, &'static str)> = match password_file {
        Some(path) => Some((read_password_file(path)?, "--password-file")),
        None => env
            .get("DB_PASS")
            .map(|p| (p, "DB_PASS"))
            .or_else(|| match url.engine {
                Engine::Mysql => env.get("MYSQL_PWD").map(|p| (p, "MYSQL_PWD")),
                Engine::Postgres => env.get("PGPASSWORD").map(|p| (p, "PGPASSWORD")),
                Engine::Sqlite => None,
            })
            .or_else(|| match url.engine {
                Engine::Mysql => home(env)
                    .and_then(|h| std::fs::read_to_string(h.join(".my.cnf")).ok())
                    .and_then(|text| my_cnf_password(&text))
                    .map(|p| (p, "~/.my.cnf")),
                Engine::Postgres => pgpass_path(env)
                    .and_then(|p| std::fs::read_to_string(p).ok())
                    .and_then(|text| pgpass_password(&text, url))
                    .map(|p| (p, "~/.pgpass")),
                Engine::Sqlite => None,
            }),
    };
    Ok(found.map(|(password, source)| {
        register_secret(&password);
        url.password = Some(password);
        source
    }))
}

fn read_password_file(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::usage(
            format!("--password-file {} cannot be read ({e}).", path.display()),
            "Give a file readable by this user holding the password on its first line.",
        )
    })?;
    Ok(text.lines().next().unwrap_or("").to_string())
}

fn home(env: &dyn Env) -> Option<PathBuf> {
    env.get("HOME").map(PathBuf::from)
}

fn pgpass_path(env: &dyn Env) -> Option<PathBuf> {
    env.get("PGPASSFILE")
        .map(PathBuf::from)
        .or_else(|| home(env).map(|h| h.join(".pgpass")))
}

/// `password` of the `[client]` group of a MySQL option file (quotes removed).
fn my_cnf_password(text: &str) -> Option<String> {
    let mut in_client = false;
    let mut found = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(group) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_client = group.trim().eq_ignore_ascii_case("client");
            continue;
        }
        if !in_client {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue; // a bare option such as skip-ssl
        };
        if key.trim().eq_ignore_ascii_case("password") {
            let v = value.trim();
            let unquoted = v
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
                .unwrap_or(v);
            // The last setting in a group wins, as for the mysql client.
            found = Some(unquoted.to_string());
        }
    }
    found
}

/// The password of the first .pgpass line matching the URL: `host:port:database:user:password`,
/// `*` matching anything, `\` escaping `:` and `\` (libpq's rules).
fn pgpass_password(text: &str, url: &DbUrl) -> Option<String> {
    let port = url.port.to_string();
    let user = url.user.clone().unwrap_or_default();
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_pgpass(line);
        if fields.len() != 5 {
            continue;
        }
        let matches = |field: &str, value: &str| field == "*" || field == value;
        let host_matches = matches(&fields[0], &url.host)
            || (fields[0] == "localhost" && matches!(url.host.as_str(), "127.0.0.1" | "::1"));
        if host_matches
            && matches(&fields[1], &port)
            && matches(&fields[2], &url.database)
            && matches(&fields[3], &user)
        {
            return Some(fields[4].clone());
        }
    }
    None
}

fn split_pgpass(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => field.extend(chars.next()),
            ':' => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    fields.push(field);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct MapEnv(HashMap<&'static str, String>);
    impl Env for MapEnv {
        fn get(&self, key: &str) -> Option<String> {
            self.0.get(key).cloned()
        }
    }

    fn url(text: &str) -> DbUrl {
        DbUrl::parse(text, &MapEnv(HashMap::new())).unwrap()
    }

    #[test]
    fn a_password_in_the_url_wins() {
        let mut u = url("mysql://app:inurl@db:3306/shop");
        let env = MapEnv(HashMap::from([("DB_PASS", "fromenv".to_string())]));
        assert_eq!(fill_password(&mut u, &env, None).unwrap(), None);
        assert_eq!(u.password.as_deref(), Some("inurl"));
    }

    #[test]
    fn sources_in_order_file_db_pass_engine_variable_option_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "fromfile\nignored\n").unwrap();
        std::fs::write(
            dir.path().join(".my.cnf"),
            "[mysqld]\npassword=server\n[client]\nskip-ssl\nuser = app\npassword = \"from cnf\"\n",
        )
        .unwrap();
        let home = dir.path().to_string_lossy().into_owned();
        let all = MapEnv(HashMap::from([
            ("DB_PASS", "dbpass".to_string()),
            ("MYSQL_PWD", "mysqlpwd".to_string()),
            ("HOME", home.clone()),
        ]));
        let mut u = url("mysql://app@db/shop");
        assert_eq!(
            fill_password(&mut u, &all, Some(&file)).unwrap(),
            Some("--password-file")
        );
        assert_eq!(u.password.as_deref(), Some("fromfile"));
        let mut u = url("mysql://app@db/shop");
        fill_password(&mut u, &all, None).unwrap();
        assert_eq!(u.password.as_deref(), Some("dbpass"));
        let no_db_pass = MapEnv(HashMap::from([
            ("MYSQL_PWD", "mysqlpwd".to_string()),
            ("HOME", home.clone()),
        ]));
        let mut u = url("mysql://app@db/shop");
        fill_password(&mut u, &no_db_pass, None).unwrap();
        assert_eq!(u.password.as_deref(), Some("mysqlpwd"));
        let only_home = MapEnv(HashMap::from([("HOME", home)]));
        let mut u = url("mysql://app@db/shop");
        assert_eq!(
            fill_password(&mut u, &only_home, None).unwrap(),
            Some("~/.my.cnf")
        );
        assert_eq!(u.password.as_deref(), Some("from cnf"));
        assert!(!crate::url::redact("x from cnf y").contains("from cnf"));
    }

    #[test]
    fn pgpass_lines_match_like_libpq() {
        let text = "# comment\ndb:5432:other:app:wrong\ndb:5432:sh\\:op:app:p\\:w\\\\1\n*:*:*:app:fallback\n";
        let u = url("postgres://app@db:5432/sh:op");
        assert_eq!(pgpass_password(text, &u).as_deref(), Some("p:w\\1"));
        let u = url("postgres://app@elsewhere:5433/x");
        assert_eq!(pgpass_password(text, &u).as_deref(), Some("fallback"));
        let u = url("postgres://nobody@db:5432/x");
        assert_eq!(pgpass_password(text, &u), None);
    }

    #[test]
    fn an_unreadable_password_file_is_a_usage_error() {
        let mut u = url("mysql://app@db/shop");
        let err = fill_password(
            &mut u,
            &MapEnv(HashMap::new()),
            Some(Path::new("/nonexistent/pw")),
        )
        .unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
