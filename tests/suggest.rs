//! The administrators' learning loop as it is used: citizens ask over HTTP and mark a reply
//! unhelpful, the administrator runs `xiaoban suggest` (the real binary, on the server's data
//! folder and database), accepts or rejects, and the running server answers from the chosen
//! document. On SQLite, and on PostgreSQL (a schema of its own) when configured.

use crate::common;

use common::{client, databases};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// A question the demo knowledge base does not answer from the document chosen below.
const QUESTION: &str = "阿公满了耄耋之年那份钱咋个拿";
const CHOSEN: &str = "elderly-allowance";

/// A schema of its own in the PostgreSQL test database (decisions outlive a run, so tests
/// never share one), dropped at the end.
struct Schema {
    admin: sqlx::AnyPool,
    name: String,
    url: String,
}

impl Schema {
    async fn create(base: &str) -> Schema {
        sqlx::any::install_default_drivers();
        let admin = sqlx::AnyPool::connect(base).await.expect("PostgreSQL");
        let name = format!(
            "suggest_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&admin)
            .await
            .expect("create schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
        Schema { admin, name, url }
    }

    async fn drop(self) {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA {} CASCADE",
            self.name
        )))
        .execute(&self.admin)
        .await
        .expect("drop schema");
    }
}

/// SQLite in the data folder, or a fresh PostgreSQL schema.
async fn database(db: Option<String>) -> (Option<Schema>, Option<String>) {
    match db {
        Some(base) => {
            let s = Schema::create(&base).await;
            let url = s.url.clone();
            (Some(s), Some(url))
        }
        None => (None, None),
    }
}

fn copy_kb(to: &Path) {
    std::fs::create_dir_all(to.join("documents")).unwrap();
    let src = common::repo().join("knowledge_base");
    for f in ["synonyms.txt", "user_dict.txt", "routes.toml"] {
        std::fs::copy(src.join(f), to.join(f)).unwrap();
    }
    for e in std::fs::read_dir(src.join("documents")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join("documents").join(e.file_name())).unwrap();
    }
}

/// The real binary on the same data folder, knowledge base and database.
async fn xiaoban(args: &[&str], data: &Path, kb: &Path, db: Option<&str>) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_xiaoban"));
    cmd.args(args)
        .arg("--data-dir")
        .arg(data)
        .arg("--kb")
        .arg(kb)
        .current_dir(common::repo())
        .env("XIAOBAN_GENERATION__BACKEND", "off");
    if let Some(url) = db {
        cmd.arg("--database-url").arg(url);
    }
    // Off the runtime's threads: the server under test keeps answering meanwhile.
    tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("joined")
        .expect("runs")
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn ask(c: &reqwest::Client, base: &str, question: &str) -> Value {
    let r = c
        .post(format!("{base}/api/v1/chat"))
        .json(&json!({ "question": question }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The group whose first question is `q`.
fn group_of<'a>(list: &'a Value, q: &str) -> Option<&'a Value> {
    list.as_array().unwrap().iter().find(|g| g["question"] == q)
}

#[tokio::test]
async fn an_accepted_suggestion_is_answered_from_the_chosen_document_by_the_running_server() {
    for db in databases() {
        let (schema, url) = database(db).await;
        let kb_dir = tempfile::tempdir().unwrap();
        let kb: PathBuf = kb_dir.path().to_path_buf();
        copy_kb(&kb);
        let data = tempfile::tempdir().unwrap();
        let data_dir = data.path().to_path_buf();
        let config = common::config(&data_dir, Some(kb.clone()), url.clone());
        let s = common::start_with(config, data).await;
        let c = client();

        // A citizen asks and finds the reply unhelpful.
        let v = ask(&c, &s.base, QUESTION).await;
        assert_ne!(v["citations"][0]["doc_id"], CHOSEN, "{v}");
        let r = c
            .post(s.url("/api/v1/feedback"))
            .json(&json!({ "reply_id": v["reply_id"], "helpful": false, "comment": "没说清楚" }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);

        // The administrator sees it, with the likely document and the evidence.
        let list = json_of(&xiaoban(&["suggest", "--json"], &data_dir, &kb, url.as_deref()).await);
        let g = group_of(&list, QUESTION).unwrap_or_else(|| panic!("{list:#}"));
        assert_eq!(g["count"], 1);
        assert_eq!(
            g["questions"],
            json!([{ "question": QUESTION, "times": 1 }])
        );
        let id = g["id"].as_str().unwrap().to_string();
        assert!(
            id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
        if v["outcome"] == "answered" {
            assert_eq!(g["unhelpful_from"][0], v["citations"][0]["doc_id"]);
            assert_ne!(g["doc"]["doc_id"], v["citations"][0]["doc_id"]);
        }
        if !g["doc"].is_null() {
            assert!(g["doc"]["score"].as_f64().unwrap() > 0.0, "{g}");
            assert!(
                !g["doc"]["shared_terms"].as_array().unwrap().is_empty(),
                "{g}"
            );
        }
        // The same list again: ids are stable.
        let again = json_of(&xiaoban(&["suggest", "--json"], &data_dir, &kb, url.as_deref()).await);
        assert_eq!(group_of(&again, QUESTION).unwrap()["id"], id.as_str());

        // Mistakes get clear errors and change nothing.
        let file = kb.join("documents").join(format!("{CHOSEN}.md"));
        let before = std::fs::read_to_string(&file).unwrap();
        let out = xiaoban(
            &["suggest", "accept", "0000zzzz"],
            &data_dir,
            &kb,
            url.as_deref(),
        )
        .await;
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("没有编号为“0000zzzz”的待处理建议"),
            "{}",
            stderr(&out)
        );
        let out = xiaoban(
            &["suggest", "accept", &id, "--doc", "no-such-guide"],
            &data_dir,
            &kb,
            url.as_deref(),
        )
        .await;
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("找不到文档“no-such-guide”"),
            "{}",
            stderr(&out)
        );
        let out = xiaoban(
            &["suggest", "accept", &id, "--doc", "Not A Doc"],
            &data_dir,
            &kb,
            url.as_deref(),
        )
        .await;
        assert!(
            stderr(&out).contains("文档编号“Not A Doc”无效"),
            "{}",
            stderr(&out)
        );
        // A short form given instead must be short.
        let long = "很长的说法".repeat(9);
        let out = xiaoban(
            &["suggest", "accept", &id, "--doc", CHOSEN, "--alias", &long],
            &data_dir,
            &kb,
            url.as_deref(),
        )
        .await;
        assert!(stderr(&out).contains("超过 40 个字"), "{}", stderr(&out));
        // A superseded document's aliases are never searched.
        let out = xiaoban(
            &["suggest", "accept", &id, "--doc", "elderly-allowance-2019"],
            &data_dir,
            &kb,
            url.as_deref(),
        )
        .await;
        assert!(
            stderr(&out).contains("已被替代或不在有效期内"),
            "{}",
            stderr(&out)
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), before);

        // Accepted into the chosen document: the question becomes a dated alias.
        let started = Instant::now();
        let accepted = json_of(
            &xiaoban(
                &["suggest", "accept", &id, "--doc", CHOSEN, "--json"],
                &data_dir,
                &kb,
                url.as_deref(),
            )
            .await,
        );
        let accept_took = started.elapsed();
        assert_eq!(accepted["doc_id"], CHOSEN);
        assert_eq!(accepted["added"], json!([QUESTION]));
        let after = std::fs::read_to_string(&file).unwrap();
        let today = chrono::Local::now().date_naive();
        assert!(
            after.contains(&format!("    \"{QUESTION}\",  # {today} 采纳自市民提问\n]")),
            "{after}"
        );
        let doc = xiaoban::kb::parse_document(&file, &after).expect("still a valid document");
        assert!(doc.meta.aliases.iter().any(|a| a == QUESTION));
        // The running server takes up the new index and answers from the chosen document.
        let v = loop {
            let v = ask(&c, &s.base, QUESTION).await;
            if v["citations"][0]["doc_id"] == CHOSEN || started.elapsed() > Duration::from_secs(15)
            {
                break v;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        assert_eq!(v["citations"][0]["doc_id"], CHOSEN, "{v}");
        assert_ne!(v["outcome"], "out_of_scope", "{v}");
        println!(
            "suggest: `suggest accept` took {:.1} s (index rebuilt), answered from the document {:.1} s after it ended",
            accept_took.as_secs_f64(),
            (started.elapsed() - accept_took).as_secs_f64()
        );
        // Done (and answered now): no longer suggested, and accepting again is refused. The
        // asks that met the old index in the seconds before the server refreshed do not bring
        // it back.
        let list = json_of(&xiaoban(&["suggest", "--json"], &data_dir, &kb, url.as_deref()).await);
        assert!(group_of(&list, QUESTION).is_none(), "{list:#}");
        let out = xiaoban(&["suggest", "accept", &id], &data_dir, &kb, url.as_deref()).await;
        assert!(stderr(&out).contains("没有编号为"), "{}", stderr(&out));
        s.stop().await;
        if let Some(schema) = schema {
            schema.drop().await;
        }
    }
}

#[tokio::test]
async fn a_rejected_suggestion_stays_hidden_and_personal_numbers_never_show() {
    for db in databases() {
        let (schema, url) = database(db).await;
        let kb = common::repo().join("knowledge_base");
        let data = tempfile::tempdir().unwrap();
        let data_dir = data.path().to_path_buf();
        let config = common::config(&data_dir, Some(kb.clone()), url.clone());
        let s = common::start_with(config, data).await;
        let c = client();
        let moon = "月球上的土地产权证在哪个窗口领";
        for q in [
            moon,
            "月球上的土地产权证在哪个窗口领？",
            "11010519491231002X 月球上的土地产权证在哪个窗口领 13812345678",
        ] {
            let v = ask(&c, &s.base, q).await;
            assert_eq!(v["outcome"], "out_of_scope", "{v}");
            // Times are stored to the second: one question a second keeps their order known.
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        let list = json_of(&xiaoban(&["suggest", "--json"], &data_dir, &kb, url.as_deref()).await);
        for g in list.as_array().unwrap() {
            for p in g["questions"].as_array().unwrap() {
                let q = p["question"].as_str().unwrap();
                assert!(!q.contains(|c: char| c.is_ascii_digit() || c == '*'), "{q}");
            }
        }
        let g = group_of(&list, moon).unwrap_or_else(|| panic!("{list:#}"));
        // Punctuation apart the same question, and so is the third once the masked numbers
        // are left out.
        assert_eq!(g["count"], 3, "{g}");
        assert_eq!(g["no_answer"], 3);
        assert_eq!(g["questions"], json!([{ "question": moon, "times": 3 }]));
        let id = g["id"].as_str().unwrap().to_string();

        // The plain listing names the group and how to act on it.
        let out = xiaoban(&["suggest"], &data_dir, &kb, url.as_deref()).await;
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(shown.contains(&format!("[{id}] 3 次")), "{shown}");
        assert!(shown.contains("xiaoban suggest reject"), "{shown}");

        let r = json_of(
            &xiaoban(
                &["suggest", "reject", &id, "--json"],
                &data_dir,
                &kb,
                url.as_deref(),
            )
            .await,
        );
        assert_eq!(r["id"], id.as_str());
        assert_eq!(r["questions"], json!([moon]));
        // Hidden for good: asked again, still not suggested; rejecting again is an error.
        ask(&c, &s.base, moon).await;
        let list = json_of(&xiaoban(&["suggest", "--json"], &data_dir, &kb, url.as_deref()).await);
        assert!(group_of(&list, moon).is_none(), "{list:#}");
        let out = xiaoban(&["suggest", "reject", &id], &data_dir, &kb, url.as_deref()).await;
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains(&format!("没有编号为“{id}”")),
            "{}",
            stderr(&out)
        );

        // The latest feedback on a reply counts: unhelpful then helpful is not suggested,
        // helpful then unhelpful is.
        for (q, marks) in [
            ("身份证有效期满了怎么换", [false, true]),
            ("驾驶证有效期快满了怎么换证", [true, false]),
        ] {
            let v = ask(&c, &s.base, q).await;
            assert_eq!(v["outcome"], "answered", "{v}");
            for helpful in marks {
                let r = c
                    .post(s.url("/api/v1/feedback"))
                    .json(&json!({ "reply_id": v["reply_id"], "helpful": helpful }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
            }
        }
        let list = json_of(&xiaoban(&["suggest", "--json"], &data_dir, &kb, url.as_deref()).await);
        assert!(
            group_of(&list, "身份证有效期满了怎么换").is_none(),
            "{list:#}"
        );
        let g = group_of(&list, "驾驶证有效期快满了怎么换证").unwrap_or_else(|| panic!("{list:#}"));
        assert_eq!(
            (g["unhelpful"].as_i64(), g["no_answer"].as_i64()),
            (Some(1), Some(0))
        );
        assert_eq!(g["unhelpful_from"], json!(["driving-licence-renewal"]));
        assert_ne!(g["doc"]["doc_id"], "driving-licence-renewal");
        s.stop().await;
        if let Some(schema) = schema {
            schema.drop().await;
        }
    }
}
