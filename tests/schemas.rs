//! JSON Schemas are generated from the Rust types: a test fails when a checked-in schema is
//! stale, and every example document validates against its schema.
//! Regenerate with `CODEXPORT_UPDATE_SCHEMAS=1 cargo test --test schemas`, then review the diff.

mod common;

use std::path::{Path, PathBuf};

use codexport::model::DesiredState;
use codexport::reconcile::plan::Plan;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn check_schema(file: &str, schema: schemars::Schema) -> serde_json::Value {
    let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
    let path = root().join("schemas").join(file);
    if std::env::var_os("CODEXPORT_UPDATE_SCHEMAS").is_some() {
        fs_err::write(&path, &text).unwrap();
    }
    let on_disk = fs_err::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == text,
        "{} is stale: run `CODEXPORT_UPDATE_SCHEMAS=1 cargo test --test schemas` and review the diff",
        path.display()
    );
    serde_json::from_str(&text).unwrap()
}

fn validate(schema: &serde_json::Value, instance: &serde_json::Value, what: &str) {
    let validator = jsonschema::validator_for(schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} does not match its schema:\n{}",
        errors.join("\n")
    );
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs_err::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    out.sort();
    out
}

#[test]
fn desired_state_schema_is_current_and_examples_validate() {
    let schema = check_schema("desired-state.v1.schema.json", schemars::schema_for!(DesiredState));
    let examples = yaml_files(&root().join("examples/desired-state"));
    assert!(!examples.is_empty(), "examples/desired-state/ has no documents");
    for path in examples {
        let text = fs_err::read_to_string(&path).unwrap();
        let value: serde_json::Value = serde_yaml::from_str(&text).unwrap();
        validate(&schema, &value, &path.display().to_string());
        let doc: DesiredState = serde_yaml::from_str(&text).unwrap();
        assert_eq!(
            doc.spec.revision(),
            doc.metadata.revision,
            "{}: revision does not match its spec",
            path.display()
        );
    }
}

#[test]
fn a_freshly_published_document_validates() {
    let schema = serde_json::to_value(schemars::schema_for!(DesiredState)).unwrap();
    let master = common::Machine::with_example();
    master.ok(&["master", "init"]);
    let text = fs_err::read_to_string(master.codexport_home.join("master/state.yaml")).unwrap();
    let value: serde_json::Value = serde_yaml::from_str(&text).unwrap();
    validate(&schema, &value, "the published state.yaml");
    let example = root().join("examples/desired-state/master-basic.yaml");
    if std::env::var_os("CODEXPORT_UPDATE_SCHEMAS").is_some() {
        let mut doc: DesiredState = serde_yaml::from_str(&text).unwrap();
        let m = &mut doc.metadata.master;
        (m.home, m.codex_home, m.hostname) = (
            "/home/alice".into(),
            "/home/alice/.codex".into(),
            "alice-desktop".into(),
        );
        doc.metadata.generated_at = "2026-11-21T10:00:00Z".into();
        doc.metadata.sequence = 1_795_255_200;
        let header =
            "# The desired state `codexport master init` publishes for examples/master-basic (metadata made stable).\n";
        fs_err::write(&example, format!("{header}{}", serde_yaml::to_string(&doc).unwrap())).unwrap();
    }
    let published: DesiredState = serde_yaml::from_str(&text).unwrap();
    let checked_in: DesiredState = serde_yaml::from_str(&fs_err::read_to_string(&example).unwrap()).unwrap();
    assert_eq!(
        published.spec,
        checked_in.spec,
        "{} is stale (regenerate as the module doc says)",
        example.display()
    );
}

#[test]
fn local_settings_schema_is_current() {
    let schema = check_schema(
        "local.v1.schema.json",
        schemars::schema_for!(codexport::follower::local::LocalSettings),
    );
    let example: serde_json::Value = serde_json::json!({"onDrift": "keep", "keepGenerations": 5});
    validate(&schema, &example, "a local.toml");
    let typo = serde_json::json!({"onDrfit": "keep"});
    assert!(
        !jsonschema::validator_for(&schema).unwrap().is_valid(&typo),
        "unknown keys are rejected by the schema too"
    );
}

#[test]
fn plan_schema_is_current_and_a_real_plan_validates() {
    let schema = check_schema("plan.v1.schema.json", schemars::schema_for!(Plan));
    let pair = common::Pair::joined();
    let out = pair.follower.ok(&["plan", "--offline", "--output", "json"]);
    let value: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    validate(&schema, &value, "plan --output json");
    let yaml = pair.follower.ok(&["plan", "--offline", "--output", "yaml"]);
    let from_yaml: serde_json::Value = serde_yaml::from_str(&yaml.stdout).unwrap();
    assert_eq!(from_yaml, value, "YAML and JSON renderers show the same plan");
}
