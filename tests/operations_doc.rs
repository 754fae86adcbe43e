//! docs/operations.md stays true: its configuration tables list exactly the keys `Config`
//! has, with the environment variable that sets each and its default, and its metrics table
//! lists exactly the metric families the server exports at /metrics.

use crate::common;

use std::collections::BTreeMap;

fn doc() -> String {
    std::fs::read_to_string(common::repo().join("docs/operations.md")).expect("docs/operations.md")
}

/// Every key of the configuration, dotted, with its default as TOML (`None` for optional
/// keys that are unset by default).
fn config_keys() -> BTreeMap<String, Option<toml::Value>> {
    fn walk(prefix: &str, v: &toml::Value, out: &mut BTreeMap<String, Option<toml::Value>>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            other => {
                out.insert(prefix.to_string(), Some(other.clone()));
            }
        }
    }
    let defaults = toml::Value::try_from(xiaoban::config::Config::default()).expect("serialises");
    let mut out = BTreeMap::new();
    walk("", &defaults, &mut out);
    // Options unset by default are left out by the serialiser.
    let all = serde_json::to_value(xiaoban::config::Config::default()).unwrap();
    for (k, v) in all.as_object().unwrap() {
        if v.is_null() {
            out.insert(k.clone(), None);
        }
    }
    out
}

/// Rows of the documented configuration tables: key → (environment variable, default cell).
fn documented_keys(doc: &str) -> BTreeMap<String, (String, String)> {
    doc.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // | `key` | `XIAOBAN_…` | default | description |
            if cells.len() < 6 || !cells[2].starts_with("`XIAOBAN_") {
                return None;
            }
            let key = cells[1].strip_prefix('`')?.strip_suffix('`')?;
            let env = cells[2].trim_matches('`');
            Some((key.to_string(), (env.to_string(), cells[3].to_string())))
        })
        .collect()
}

fn env_name(key: &str) -> String {
    format!("XIAOBAN_{}", key.to_uppercase().replace('.', "__"))
}

fn same_default(cell: &str, value: &Option<toml::Value>) -> bool {
    let cell = cell.trim_matches('`');
    match value {
        None => cell == "未设置",
        Some(toml::Value::Float(f)) => cell.parse::<f64>().is_ok_and(|c| (c - f).abs() < 1e-6),
        Some(v) => cell == v.to_string(),
    }
}

#[test]
fn every_configuration_key_is_documented_with_its_variable_and_default() {
    let doc = doc();
    let documented = documented_keys(&doc);
    let keys = config_keys();
    assert!(keys.len() > 20, "{keys:?}");
    for (key, default) in &keys {
        let (env, cell) = documented
            .get(key)
            .unwrap_or_else(|| panic!("docs/operations.md does not document `{key}`"));
        assert_eq!(*env, env_name(key), "environment variable of `{key}`");
        assert!(
            same_default(cell, default),
            "default of `{key}`: documented {cell}, actual {default:?}"
        );
    }
    for key in documented.keys() {
        assert!(
            keys.contains_key(key),
            "docs/operations.md documents `{key}`, which the configuration does not have"
        );
    }
}

/// Every metric family registered in src/metrics.rs (families without samples are not in
/// the /metrics output, so the source is the list).
fn registered_metrics() -> Vec<String> {
    let src = std::fs::read_to_string(common::repo().join("src/metrics.rs")).unwrap();
    let re = regex::Regex::new(r#"register(?:_with_unit)?\(\s*"([a-z0-9_]+)""#).unwrap();
    re.captures_iter(&src)
        .map(|c| format!("xiaoban_{}", &c[1]))
        .collect()
}

#[tokio::test]
async fn every_metric_is_documented_under_its_exported_name() {
    let registered = registered_metrics();
    assert!(registered.len() > 10, "{registered:?}");
    let server = common::start(None).await;
    let http = common::client();
    // Requests that give the labelled families samples.
    http.get(server.url("/healthz")).send().await.unwrap();
    http.post(server.url("/api/v1/chat"))
        .json(&serde_json::json!({"question": "身份证有效期满了怎么办"}))
        .send()
        .await
        .unwrap();
    http.post(server.url("/api/v1/chat"))
        .json(&serde_json::json!({"question": ""}))
        .send()
        .await
        .unwrap();
    let text = common::metrics(&http, &server.url("/metrics")).await;
    server.stop().await;
    // Counters are exported with `_total`; the others under their own name.
    let exported: BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .collect();
    for name in exported.keys() {
        assert!(
            registered.contains(name),
            "{name} exported but not found in src/metrics.rs"
        );
    }
    let doc = doc();
    let documented: Vec<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `xiaoban_"))
        .filter_map(|l| l.split('`').next())
        .map(|n| format!("xiaoban_{n}"))
        .collect();
    for name in &registered {
        let total = format!("{name}_total");
        let shown = match exported.get(name).map(String::as_str) {
            Some("counter") => documented.contains(&total),
            Some(_) => documented.contains(name),
            None => documented.contains(name) || documented.contains(&total),
        };
        assert!(
            shown,
            "docs/operations.md does not document the metric {name}"
        );
    }
    for name in &documented {
        let family = name.strip_suffix("_total").unwrap_or(name);
        assert!(
            registered.iter().any(|r| r == family),
            "docs/operations.md documents {name}, which src/metrics.rs does not register"
        );
    }
}
