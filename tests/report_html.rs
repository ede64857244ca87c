//! report.html as a browser shows it: headless Chromium loads the demo run's report and dumps
//! the DOM it built, in which the timeline must have exactly one bar per table and stage that
//! the journal recorded. Without Chromium the test is skipped, except in CI or with
//! REKEY_REQUIRE_CHROMIUM set, where it fails (scripts/test.sh installs Debian's chromium).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Chromium's binary: REKEY_CHROMIUM, or the first of Debian's and others' names on PATH.
fn chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("REKEY_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
    .find(|p| p.is_file())
}

fn required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("REKEY_REQUIRE_CHROMIUM").is_some()
}

/// Runs headless Chromium on `page` with `mode` (`--dump-dom` or `--screenshot=FILE`) and
/// returns its standard output. The flags keep it off the network, which is closed here.
fn headless(browser: &Path, page: &Path, mode: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,1400",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(mode)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", browser.display()));
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).unwrap();
        text
    });
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("headless Chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

/// The attributes of every `<rect>` in `dom` whose class list includes `class`.
fn rects(dom: &str, class: &str) -> Vec<BTreeMap<String, String>> {
    dom.split("<rect")
        .skip(1)
        .map(|tail| {
            let tag = &tail[..tail.find('>').unwrap_or(tail.len())];
            let mut attrs = BTreeMap::new();
            let mut rest = tag;
            while let Some(eq) = rest.find("=\"") {
                let name = rest[..eq].trim().rsplit(' ').next().unwrap().to_string();
                let value_start = eq + 2;
                let end = rest[value_start..].find('"').unwrap() + value_start;
                attrs.insert(name, rest[value_start..end].to_string());
                rest = &rest[end + 1..];
            }
            attrs
        })
        .filter(|a| {
            a.get("class")
                .is_some_and(|c| c.split(' ').any(|w| w == class))
        })
        .collect()
}

#[test]
fn the_timeline_has_one_bar_per_table_and_stage_in_chromium() {
    let Some(browser) = chromium() else {
        if required() {
            panic!("Chromium is required (CI or REKEY_REQUIRE_CHROMIUM is set) but none was found: install Debian's chromium package (scripts/test.sh does), or set REKEY_CHROMIUM to its binary.");
        }
        eprintln!("SKIPPED: no chromium on PATH; scripts/test.sh installs it");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_rekey"))
        .args(["demo", "--quiet", "--dir"])
        .arg(&demo)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = demo.join("run");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("report.json")).unwrap()).unwrap();

    let dom = headless(&browser, &run.join("report.html"), "--dump-dom");
    assert!(dom.contains("<h1>rekey report</h1>"), "{dom}");

    // Every table's stage that the journal finished, exactly once.
    let mut expected: Vec<(String, String)> = report["timeline"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "done")
        .map(|s| {
            (
                s["item"].as_str().unwrap().to_string(),
                s["stage"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    expected.sort();
    let mut bars: Vec<(String, String)> = rects(&dom, "bar")
        .into_iter()
        .map(|a| (a["data-table"].clone(), a["data-stage"].clone()))
        .collect();
    bars.sort();
    assert_eq!(bars, expected);
    // The demo's ten tables: clone, unconstrain and swap all ten, shadow the eight converted,
    // link the six with references, load and verify the nine that are not DB_FINAL's
    // bookkeeping table.
    assert_eq!(expected.len(), 10 + 8 + 6 + 10 + 10 + 9 + 9, "{expected:?}");
    for stage in [
        "clone",
        "shadow",
        "link",
        "unconstrain",
        "swap",
        "load",
        "verify",
    ] {
        assert!(bars.iter().any(|(_, s)| s == stage), "no {stage} bar");
    }
    let spans: Vec<String> = rects(&dom, "stage-span")
        .into_iter()
        .map(|a| a["data-stage"].clone())
        .collect();
    assert_eq!(spans.len(), 10, "{spans:?}");
    // Each stage that ran tables has its critical (last to end) table outlined.
    let critical = rects(&dom, "critical");
    assert!(critical.len() >= 7, "{critical:?}");

    // A screenshot for a person to look at, when asked (REKEY_SCREENSHOT=FILE).
    if let Ok(file) = std::env::var("REKEY_SCREENSHOT") {
        headless(
            &browser,
            &run.join("report.html"),
            &format!("--screenshot={file}"),
        );
        assert!(Path::new(&file).exists());
    }
}
