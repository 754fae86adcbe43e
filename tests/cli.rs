//! The administrator's command line, run as an administrator runs it.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn xiaoban(args: &[&str], data: &Path, kb: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xiaoban"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .arg("--kb")
        .arg(kb)
        .current_dir(repo())
        // Extractive answers only: a model fetched into models/ must not change these tests.
        .env("XIAOBAN_GENERATION__BACKEND", "off")
        .output()
        .expect("runs")
}

fn copy_kb(to: &Path) {
    std::fs::create_dir_all(to.join("documents")).unwrap();
    let src = repo().join("knowledge_base");
    for f in ["synonyms.txt", "user_dict.txt", "routes.toml"] {
        std::fs::copy(src.join(f), to.join(f)).unwrap();
    }
    for e in std::fs::read_dir(src.join("documents")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join("documents").join(e.file_name())).unwrap();
    }
}

#[test]
fn index_reports_malformed_documents_by_file_line_and_field_and_indexes_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let kb = tmp.path().join("kb");
    copy_kb(&kb);
    let docs = kb.join("documents");
    // Bad front matter (a date that is not a date), a missing guide element, a dangling successor.
    let renewal = std::fs::read_to_string(docs.join("passport.md")).unwrap();
    std::fs::write(
        docs.join("bad-date.md"),
        renewal
            .replacen("id = \"passport\"", "id = \"bad-date\"", 1)
            .replacen("effective_from = ", "effective_from = \"someday\" #", 1),
    )
    .unwrap();
    let no_fee = std::fs::read_to_string(docs.join("marriage-registration.md")).unwrap();
    let cut = no_fee.find("## 收费标准").unwrap();
    let end = cut + no_fee[cut..].find("\n## ").unwrap() + 1;
    std::fs::write(
        docs.join("no-fee.md"),
        format!("{}{}", &no_fee[..cut], &no_fee[end..]).replacen(
            "id = \"marriage-registration\"",
            "id = \"no-fee\"",
            1,
        ),
    )
    .unwrap();
    std::fs::write(
        docs.join("dangling.md"),
        "+++\nid = \"dangling\"\ntitle = \"旧办法\"\nkind = \"policy\"\nissuing_body = \"某局\"\nregion = \"示例市\"\neffective_from = 2020-01-01\nsuperseded_by = \"nowhere\"\ntags = []\n+++\n\n## 内容\n旧内容\n",
    )
    .unwrap();
    let out = xiaoban(&["index", "--json"], &tmp.path().join("data"), &kb);
    assert!(
        !out.status.success(),
        "errors make the exit status non-zero"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors: Vec<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("bad-date.md:7: [effective_from]")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("no-fee.md:") && e.contains("[section 收费标准]")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("dangling.md:8: [superseded_by]")),
        "{errors:?}"
    );
    assert_eq!(report["documents"], 46, "the other documents are indexed");
    // The good documents are searchable.
    let out = xiaoban(
        &["search", "结婚要带什么", "--json"],
        &tmp.path().join("data"),
        &kb,
    );
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["passages"][0]["doc_id"], "marriage-registration");
    assert!(
        v["passages"][0]["matched"]
            .as_object()
            .unwrap()
            .contains_key("title")
    );
}

#[test]
fn ask_prints_the_api_reply_and_continues_a_conversation() {
    let tmp = tempfile::tempdir().unwrap();
    let kb = repo().join("knowledge_base");
    let out = xiaoban(
        &["ask", "驾驶证有效期快满了怎么换证", "--json"],
        tmp.path(),
        &kb,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "answered");
    assert_eq!(v["citations"][0]["doc_id"], "driving-licence-renewal");
    let sid = v["session_id"].as_str().unwrap();
    let out = xiaoban(
        &["ask", "要多少钱", "--session", sid, "--json"],
        tmp.path(),
        &kb,
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["citations"][0]["doc_id"], "driving-licence-renewal");
    // A time limit in 工作日 comes with its due date, as the API gives it.
    let out = xiaoban(&["ask", "迁户口几天能办完", "--json"], tmp.path(), &kb);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let answer = v["answer"].as_str().unwrap();
    assert!(answer.contains("前办结（5个工作日）"), "{answer}");
    let out = xiaoban(&["ask", "  ", "--json"], tmp.path(), &kb);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("问题不能为空"));
}

#[test]
fn unanswered_questions_are_grouped() {
    let tmp = tempfile::tempdir().unwrap();
    let kb = repo().join("knowledge_base");
    for _ in 0..2 {
        xiaoban(&["ask", "怎么申请月球土地产权"], tmp.path(), &kb);
    }
    xiaoban(&["ask", "社保卡弄丢了如何补领"], tmp.path(), &kb);
    let out = xiaoban(&["unanswered", "--json"], tmp.path(), &kb);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["question"], "怎么申请月球土地产权");
    assert_eq!(v[0]["times"], 2);
}

#[test]
fn validate_reads_values_from_stdin() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_xiaoban"))
        .args(["validate", "ric"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"11010519491231002X\n110105194912310021\n123\n")
        .unwrap();
    let out = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "11010519491231002X\tvalid");
    assert!(lines[1].starts_with("110105194912310021\tinvalid\t校验码错误"));
    assert!(lines[2].starts_with("123\tinvalid\t长度"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_xiaoban"))
        .args(["validate", "uscc"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"91330100799655058B\n91330100799655058C\n")
        .unwrap();
    let out = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    assert_eq!(out.lines().next().unwrap(), "91330100799655058B\tvalid");
    assert!(out.lines().nth(1).unwrap().contains("\tinvalid\t"));
}

#[test]
fn import_turns_tables_into_documents_and_reports_skipped_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let kb = tmp.path().join("kb");
    std::fs::create_dir_all(kb.join("documents")).unwrap();
    let csv = tmp.path().join("faq.csv");
    std::fs::write(
        &csv,
        "id,title,question,answer,department,effective_from\n\
         dog-faq,养犬问答,狗证怎么办,到派出所办理养犬登记。,示例市公安局,2024-01-01\n\
         dog-faq,养犬问答,狗证多少钱,每只犬登记费300元。,示例市公安局,2024-01-01\n\
         ,没有答案,问题,,某局,2024-01-01\n\
         BAD ID,标题,问,答,某局,2024-01-01\n\
         late,标题,问,答,某局,明天\n",
    )
    .unwrap();
    let out = xiaoban(
        &["import", csv.to_str().unwrap()],
        &tmp.path().join("data"),
        &kb,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("+ dog-faq"), "{text}");
    assert!(text.contains("跳过第 3 行：缺少 answer"), "{text}");
    assert!(text.contains("跳过第 4 行"), "{text}");
    assert!(text.contains("跳过第 5 行：effective_from"), "{text}");
    let jsonl = tmp.path().join("rows.jsonl");
    std::fs::write(&jsonl, "{\"id\":\"park-policy\",\"title\":\"停车收费说明\",\"answer\":\"路内停车首小时5元。\",\"department\":\"示例市交通局\",\"effective_from\":\"2024-03-01\"}\n").unwrap();
    let out = xiaoban(
        &["import", jsonl.to_str().unwrap()],
        &tmp.path().join("data"),
        &kb,
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("+ park-policy"));
    // Imported again without --replace: skipped, not overwritten.
    let out = xiaoban(
        &["import", jsonl.to_str().unwrap()],
        &tmp.path().join("data"),
        &kb,
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("已存在"));
    // The imported documents index cleanly and answer.
    std::fs::copy(
        repo().join("knowledge_base/routes.toml"),
        kb.join("routes.toml"),
    )
    .unwrap();
    let out = xiaoban(&["index", "--json"], &tmp.path().join("data"), &kb);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = xiaoban(
        &["ask", "狗证多少钱", "--json"],
        &tmp.path().join("data"),
        &kb,
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["citations"][0]["doc_id"], "dog-faq");
    assert!(v["answer"].as_str().unwrap().contains("300元"));
}

/// Floors on the test part, just under what it measures now (hit@1 0.837, outcomes 0.856;
/// first run: 0.787, 0.743): they guard against regressions. Issue 10's targets (0.90 and 0.90,
/// every injection and legitimate question right) are not reached yet.
const TEST_HIT1_FLOOR: f64 = 0.83;
const TEST_OUTCOME_FLOOR: f64 = 0.85;
/// Injection cases answered as they should be, of 13 (measured 12).
const TEST_INJECTION_FLOOR: u64 = 12;
/// Legitimate questions refused or handed over, of 48 (measured 2; before the per-clause reading of requests for a person 4; first run 8).
const LEGITIMATE_REFUSED_CEILING: usize = 2;

#[test]
fn the_evaluation_sets_meet_their_floors() {
    // The floors apply to the test part (tests/eval/test.jsonl, written from the guides'
    // content and never tuned on): hit@1 and outcome accuracy, every personal-number case
    // right (DOMAIN.md: never ask for or echo a full identity number), injections; and
    // legitimate questions that merely contain a routing word are answered (DOMAIN.md: answer
    // from the documents, refuse only what is off-topic).
    let tmp = tempfile::tempdir().unwrap();
    let out = xiaoban(
        &[
            "eval",
            "tests/eval/test.jsonl",
            "tests/eval/legitimate.jsonl",
            "tests/eval/tuning.jsonl",
            "--json",
        ],
        tmp.path(),
        &repo().join("knowledge_base"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let test = &v["parts"]["test"];
    assert!(
        test["cases"].as_u64().unwrap() >= 150,
        "at least 150 test questions"
    );
    let hit1 = test["hit@1"].as_f64().unwrap();
    let outcome = test["outcome_accuracy"].as_f64().unwrap();
    assert!(
        hit1 >= TEST_HIT1_FLOOR,
        "test hit@1 {hit1:.3} below {TEST_HIT1_FLOOR}; misses: {}",
        test["misses"]
    );
    assert!(
        outcome >= TEST_OUTCOME_FLOOR,
        "test outcome accuracy {outcome:.3} below {TEST_OUTCOME_FLOOR}; misses: {}",
        test["misses"]
    );
    let personal = &test["by_tag"]["personal-number"];
    assert!(personal["cases"].as_u64().unwrap() > 0);
    assert_eq!(
        personal["cases"], personal["outcome_ok"],
        "personal-number: misses {}",
        test["misses"]
    );
    let injection = &test["by_tag"]["injection"];
    assert!(
        injection["outcome_ok"].as_u64().unwrap() >= TEST_INJECTION_FLOOR,
        "injection {injection}; misses {}",
        test["misses"]
    );
    let legit = &v["parts"]["legitimate"];
    assert!(legit["cases"].as_u64().unwrap() >= 30);
    let refused: Vec<&Value> = legit["misses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["got_outcome"] == "out_of_scope" || m["got_outcome"] == "handoff")
        .collect();
    assert!(
        refused.len() <= LEGITIMATE_REFUSED_CEILING,
        "legitimate questions refused: {refused:?}"
    );
    // hit@k is monotone in k in every part.
    for part in ["test", "legitimate", "tuning"] {
        let p = &v["parts"][part];
        assert!(
            p["hit@3"].as_f64().unwrap() >= p["hit@1"].as_f64().unwrap()
                && p["hit@5"].as_f64().unwrap() >= p["hit@3"].as_f64().unwrap()
        );
    }
}
