//! Bad input exits 2 with a message that names the problem, before any row is read.

mod common;

use common::{demo_pipeline_in, repo, synthgate};
use predicates::str::contains;

fn expect_exit_2(pipeline_extra: impl FnOnce(&str) -> String, expected: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let path = demo_pipeline_in(dir.path(), "");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, pipeline_extra(&text)).unwrap();
    let mut assert = synthgate().arg("run").arg(&path).assert().code(2);
    for fragment in expected {
        assert = assert.stderr(contains(*fragment));
    }
    assert!(
        !dir.path().join("out").exists(),
        "an invalid pipeline wrote output"
    );
    assert!(
        !dir.path().join("staging").exists(),
        "an invalid pipeline staged a run"
    );
}

#[test]
fn unknown_key_names_the_key_and_its_line() {
    let text = std::fs::read_to_string(repo().join("pipelines/demo.toml")).unwrap();
    let epochs_line = text
        .lines()
        .position(|l| l.starts_with("epochs = "))
        .unwrap()
        + 1;
    let expected_line = format!("line {}", epochs_line + 1);
    expect_exit_2(
        |text| {
            let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
            lines.insert(epochs_line, "epoch_count = 5".to_owned());
            lines.join("\n")
        },
        &["epoch_count", &expected_line],
    );
}

#[test]
fn a_column_without_metadata_needs_a_preprocessing_budget() {
    expect_exit_2(
        |text| {
            text.replace(
                "sensitive_feature4 = { kind = \"continuous\", bounds = [0.0, 150.0] }\n",
                "",
            )
            .replace("[privacy]\n", "[privacy]\npreprocessing_share = 0.0\n")
        },
        &["no public metadata", "privacy.preprocessing_share"],
    );
}

#[test]
fn bounds_outside_the_type_name_the_column() {
    expect_exit_2(
        |text| {
            text.replace(
                "sensitive_feature4 = { kind = \"continuous\", bounds = [0.0, 150.0] }",
                "sensitive_feature4 = { kind = \"continuous\", bounds = [0.0, 1e309] }",
            )
        },
        &["sensitive_feature4"],
    );
}

#[test]
fn missing_file_names_the_path() {
    expect_exit_2(
        |text| text.replace("people.parquet", "nobody.parquet"),
        &["nobody.parquet", "does not exist"],
    );
}

#[test]
fn wrong_column_name_names_the_column() {
    expect_exit_2(
        |text| {
            text.replace(
                "sensitive_feature3 = { kind",
                "sensitive_feature33 = { kind",
            )
        },
        &["sensitive_feature33", "no such column"],
    );
}

#[test]
fn check_with_a_wrong_column_names_the_check() {
    expect_exit_2(
        |text| {
            format!(
                "{text}\n[[check]]\nname = \"typo\"\nsql = \"SELECT avg(nope) FROM synthetic\"\nmax = 1\n"
            )
        },
        &["check `typo`"],
    );
}

#[test]
fn urls_synthgate_cannot_use_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = demo_pipeline_in(dir.path(), "");
    let check = |key_value: &str| {
        synthgate()
            .arg("check")
            .arg(&path)
            .args(["--set", key_value])
            .assert()
            .code(2)
    };
    check("source.url=ftp://host/people.parquet")
        .stderr(contains("ftp://"))
        .stderr(contains("not supported yet"));
    check("output.staging_url=s3://bucket/staging")
        .stderr(contains("output.staging_url"))
        .stderr(contains("not supported yet"));
    check("privacy.ledger=gs://bucket/ledger.json")
        .stderr(contains("privacy.ledger"))
        .stderr(contains("not supported yet"));
    check("report.url=az://container/reports")
        .stderr(contains("report.url"))
        .stderr(contains("not supported yet"));
    // credentials in a URL are refused, and not echoed
    let refused = check("output.url=s3://AKIAEXAMPLE:hunter22@bucket/out")
        .stderr(contains("output.url"))
        .stderr(contains("environment"));
    let stderr = String::from_utf8_lossy(&refused.get_output().stderr).to_string();
    assert!(!stderr.contains("hunter22"), "{stderr}");
}

#[test]
fn an_unknown_accountant_names_the_key_and_the_choices() {
    synthgate()
        .arg("check")
        .arg(repo().join("pipelines/demo.toml"))
        .args(["--set", "privacy.accountant=moments"])
        .assert()
        .code(2)
        .stderr(contains("privacy.accountant"))
        .stderr(contains("\"pld\" or \"rdp\""));
}

#[test]
fn bad_override_is_refused() {
    synthgate()
        .arg("check")
        .arg(repo().join("pipelines/demo.toml"))
        .args(["--set", "training.epoch=5"])
        .assert()
        .code(2)
        .stderr(contains("epoch"));
}

#[test]
fn a_source_named_like_an_attack_table_is_refused() {
    for name in ["synthetic", "baseline", "exposed_train"] {
        synthgate()
            .arg("check")
            .arg(repo().join("pipelines/demo.toml"))
            .args(["--set", &format!("source.table={name}")])
            .assert()
            .code(2)
            .stderr(contains("source.table"))
            .stderr(contains("exposed_holdout"));
    }
}

#[test]
fn a_check_that_fails_on_a_row_value_does_not_print_it() {
    // Casting names to numbers fails at execution on the first real name; the engine's message
    // would quote it.
    let dir = tempfile::tempdir().unwrap();
    let check = "[[check]]\nname = \"bad cast\"\nsql = \"SELECT max(arrow_cast(name, 'Float64')) FROM real\"\nmax = 1\n";
    let path = demo_pipeline_in(dir.path(), check);
    let output = synthgate()
        .arg("run")
        .arg(&path)
        .args(["--set", "training.epochs=1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bad cast") && stderr.contains("withheld"),
        "{stderr}"
    );
    let source = common::read_parquet(&repo().join("data/demo/people.parquet"));
    let names = source[0]
        .column(0)
        .as_any()
        .downcast_ref::<datafusion::arrow::array::StringArray>()
        .unwrap();
    for name in names.iter().flatten() {
        assert!(!stderr.contains(name), "stderr holds a real name");
    }
    assert!(!dir.path().join("out").exists());
}

#[test]
fn an_unavailable_device_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let path = demo_pipeline_in(dir.path(), "");
    synthgate()
        .arg("run")
        .arg(&path)
        .args(["--set", "training.device=cuda:0"])
        .assert()
        .code(2)
        .stderr(contains("cuda:0"));
    assert!(!dir.path().join("staging").exists());
}

#[test]
fn an_undeclared_name_column_is_refused_as_an_identifier_and_nothing_is_published() {
    let dir = tempfile::tempdir().unwrap();
    let path = demo_pipeline_in(dir.path(), "");
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text.replace(
        "name = { kind = \"identifier\", synthesize = \"fake_name\" }\n",
        "",
    );
    std::fs::write(&path, text).unwrap();
    let assert = synthgate()
        .arg("run")
        .arg(&path)
        .assert()
        .code(2)
        .stderr(contains("`name`"))
        .stderr(contains("looks like an identifier"))
        .stderr(contains("kind = \"identifier\""));
    // the message gives a DP estimate, never a value of the column
    let stderr = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    let names = common::read_parquet(&repo().join("data/demo/people.parquet"));
    let column = names[0]
        .column_by_name("name")
        .unwrap()
        .as_any()
        .downcast_ref::<datafusion::arrow::array::StringArray>()
        .unwrap()
        .clone();
    for name in column.iter().flatten().take(200) {
        assert!(!stderr.contains(name), "the error quotes a row value");
    }
    assert!(
        !dir.path().join("out").exists(),
        "a refused run wrote output"
    );
}

#[test]
fn a_query_with_a_wrong_column_names_the_query() {
    expect_exit_2(
        |text| {
            format!(
                "{text}\n[[query]]\nname = \"mean by nothing\"\ngroup_by = [\"no_such_column\"]\n\
                 aggregate = \"avg(sensitive_feature1)\"\n"
            )
        },
        &["mean by nothing", "no_such_column"],
    );
}

#[test]
fn a_query_whose_aggregate_is_not_a_number_is_refused() {
    expect_exit_2(
        |text| {
            format!(
                "{text}\n[[query]]\nname = \"longest name\"\ngroup_by = [\"sensitive_feature3\"]\n\
                 aggregate = \"max(name)\"\n"
            )
        },
        &["longest name", "a query compares numbers"],
    );
}

#[test]
fn a_numeric_utility_target_is_not_supported_yet() {
    expect_exit_2(
        |text| format!("{text}\n[utility]\ntarget = \"sensitive_feature1\"\n"),
        &["utility.target", "sensitive_feature1", "not supported yet"],
    );
}

#[test]
fn a_report_under_the_release_location_needs_the_pipeline_to_say_it_may_be_public() {
    expect_exit_2(
        |text| format!("{text}\n[report]\nurl = \"out/reports\"\n"),
        &["report.url", "report.public"],
    );
    let dir = tempfile::tempdir().unwrap();
    let path = demo_pipeline_in(
        dir.path(),
        "[report]\nurl = \"out/reports\"\npublic = true\n",
    );
    synthgate().arg("check").arg(&path).assert().code(0);
}

#[test]
fn an_unset_environment_variable_names_the_key_and_the_variable() {
    expect_exit_2(
        |text| {
            text.replace(
                "url = \"out\"",
                "url = \"out/${SYNTHGATE_TEST_UNSET_BUCKET}\"",
            )
        },
        &["output.url", "SYNTHGATE_TEST_UNSET_BUCKET", "is not set"],
    );
}

#[test]
fn environment_variables_expand_in_pipeline_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = demo_pipeline_in(dir.path(), "");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "name = \"people-demo\"",
        "name = \"people-${SYNTHGATE_TEST_STAGE}\"",
    );
    std::fs::write(&path, text).unwrap();
    synthgate()
        .env("SYNTHGATE_TEST_STAGE", "nightly")
        .arg("check")
        .arg(&path)
        .assert()
        .code(0)
        .stdout(contains("people-nightly"));
}
