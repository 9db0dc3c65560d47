//! The internal HTML report: written by a run of the Adult pipeline, self-contained, rebuilt
//! byte for byte by `synthgate report`, and rendered by headless Chromium without a console
//! message. Chromium is Debian's `chromium` (`.ci/run` installs it) or the browser named by
//! `SYNTHGATE_CHROMIUM`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{repo, synthgate};

/// The headless browser; its absence fails the test, since the README's test command installs it.
fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("SYNTHGATE_CHROMIUM") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for folder in std::env::split_paths(&path) {
            if folder.join(name).is_file() {
                return folder.join(name);
            }
        }
    }
    panic!("no chromium found: install Debian's chromium (.ci/run does) or set SYNTHGATE_CHROMIUM");
}

/// Renders `page` to a PNG screenshot of `width` x `height` and returns the page's console
/// messages (Chromium logs each as a line with `:CONSOLE` at `--enable-logging=stderr`).
fn screenshot(page: &Path, png: &Path, width: u32, height: u32) -> Vec<String> {
    let output = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(output.status.success(), "chromium failed: {output:?}");
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| line.contains(":CONSOLE"))
        .map(str::to_owned)
        .collect()
}

/// Width and height from a PNG's header, after checking its signature.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&bytes[12..16], b"IHDR");
    let number = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    (number(16), number(20))
}

#[test]
fn the_console_check_sees_a_page_that_logs_errors() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("broken.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><p>x</p><script>console.error('first'); \
         missing();</script></body></html>",
    )
    .unwrap();
    let messages = screenshot(&page, &dir.path().join("broken.png"), 400, 300);
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[1].contains("missing is not defined"),
        "{messages:?}"
    );
}

#[test]
fn the_adult_report_is_self_contained_rebuilt_and_renders_without_console_messages() {
    let dir = tempfile::tempdir().unwrap();
    let staging = dir.path().join("staging");
    // A short run: the report's content is the subject, not the model's quality, so the run
    // may be released (0) or refused (3); both write the report.
    let status = synthgate()
        .arg("run")
        .arg(repo().join("pipelines/adult.toml"))
        .args(["--set", "training.epochs=3"])
        .args([
            "--set",
            &format!("output.url={}", dir.path().join("out").display()),
        ])
        .args([
            "--set",
            &format!("output.staging_url={}", staging.display()),
        ])
        .args(["--run-id", "report"])
        .assert()
        .get_output()
        .status
        .code();
    assert!(matches!(status, Some(0 | 3)), "exit {status:?}");
    let run_dir = staging.join("adult/report");
    let page_path = run_dir.join("report.html");
    let page = std::fs::read_to_string(&page_path).unwrap();

    // self-contained: no script, no reference to another file or host
    for outside in ["<script", "src=", "href=", "url(", "@import", "https:"] {
        assert!(
            !page.contains(outside),
            "the report refers outside itself: {outside}"
        );
    }
    let without_namespace = page.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    assert!(!without_namespace.contains("http:"));
    // every section, a chart for each of Adult's 15 columns and the four heatmaps
    for section in [
        "Privacy ledger",
        "Fidelity and user checks",
        "Attacks",
        "Columns",
        "Correlations",
    ] {
        assert!(page.contains(section), "no section {section}");
    }
    for check in [
        "column shapes",
        "pair trends",
        "machine-learning utility (income)",
        "share of high incomes by education",
        "singling out",
    ] {
        assert!(page.contains(check), "no check {check}");
    }
    assert_eq!(page.matches("class=\"chart bars\"").count(), 15);
    assert_eq!(page.matches("<svg").count(), 15 + 4);
    assert!(page.contains("hidden (a query may return a row value)"));

    // `synthgate report` rebuilds the same page from report.json
    let rebuilt = dir.path().join("rebuilt.html");
    synthgate()
        .arg("report")
        .arg(&run_dir)
        .arg("--out")
        .arg(&rebuilt)
        .assert()
        .code(0);
    assert_eq!(std::fs::read_to_string(&rebuilt).unwrap(), page);

    let png = dir.path().join("report.png");
    let messages = screenshot(&page_path, &png, 1280, 2400);
    assert!(messages.is_empty(), "console messages: {messages:?}");
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(png_size(&bytes), (1280, 2400));
    // a blank page compresses to a few kilobytes; tables and charts do not
    assert!(bytes.len() > 50_000, "screenshot of {} bytes", bytes.len());
    let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join("adult-report.png");
    std::fs::copy(&png, &kept).unwrap();
}

#[test]
fn report_of_a_folder_without_a_run_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    synthgate()
        .arg("report")
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicates::str::contains("report.json"));
}
