//! Personal data never stored; superseded documents never cited; a rebuilt index is picked up
//! without a restart while the server keeps answering.

use crate::common;

use common::{client, config, databases, repo, start, start_with};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use xiaoban::store::{SessionId, Store};

#[tokio::test]
async fn stored_conversations_hold_no_identity_mobile_or_card_number() {
    // DOMAIN.md: "redact those a person types before storing or logging the conversation";
    // "never ask for a full identity number".
    for db in databases() {
        let s = start(db).await;
        let c = client();
        let q = "身份证找不到了，号码11010519491231002X，手机13812345678，银行卡6222021234567890123，如何挂失补领？";
        let v: Value = c
            .post(s.url("/api/v1/chat"))
            .json(&json!({"question": q}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["outcome"], "answered", "{v}");
        assert_eq!(v["citations"][0]["doc_id"], "id-card-replacement");
        let answer = v["answer"].as_str().unwrap();
        for secret in ["11010519491231002X", "13812345678", "6222021234567890123"] {
            assert!(!answer.contains(secret), "the answer never echoes {secret}");
        }
        let store = Store::connect(&s.config.database_url()).await.unwrap();
        let sid = SessionId::parse(v["session_id"].as_str().unwrap()).unwrap();
        let turns = store.transcript(&sid).await.unwrap();
        assert_eq!(turns.len(), 1);
        let stored = &turns[0].question;
        assert!(stored.contains("1101**********002X"), "{stored}");
        assert!(stored.contains("138****5678"), "{stored}");
        for secret in [
            "11010519491231002X",
            "13812345678",
            "6222021234567890123",
            "19491231",
        ] {
            assert!(
                !stored.contains(secret),
                "stored question holds {secret}: {stored}"
            );
        }
        // The widget page shows the masked text too.
        let html = c
            .get(s.url(&format!("/widget?s={}", sid.as_str())))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!html.contains("13812345678"));
        s.stop().await;
    }
}

#[tokio::test]
async fn a_superseded_document_is_never_cited() {
    // DOMAIN.md: "Answers must never rest on a superseded document".
    let s = start(None).await;
    let c = client();
    for q in [
        "高龄津贴每月发多少钱",
        "90岁老人高龄津贴标准",
        "示例民发〔2019〕12号高龄津贴发放办法",
        "满八十周岁的老人津贴如何申领",
        "百岁老人每个月有多少补助",
    ] {
        let v: Value = c
            .post(s.url("/api/v1/chat"))
            .json(&json!({"question": q}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let cited: Vec<&str> = v["citations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["doc_id"].as_str().unwrap())
            .collect();
        assert!(
            !cited.contains(&"elderly-allowance-2019"),
            "{q} cited the superseded document"
        );
        assert!(
            !v["answer"].as_str().unwrap().contains("每月50元"),
            "{q}: old amount"
        );
    }
    s.stop().await;
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[tokio::test]
async fn a_rebuilt_index_is_picked_up_without_restart_and_no_request_fails() {
    let data = tempfile::tempdir().unwrap();
    let kb = data.path().join("kb");
    copy_dir(&repo().join("knowledge_base"), &kb);
    let cfg = config(data.path(), Some(kb.clone()), None);
    let s = start_with(cfg, data).await;
    let c = client();
    let ask = |q: &'static str| {
        let c = c.clone();
        let url = s.url("/api/v1/chat");
        async move {
            let r = c
                .post(url)
                .json(&json!({"question": q}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Value>().await.unwrap()
        }
    };
    let before = ask("犬只登记怎么办理").await;
    assert_eq!(before["outcome"], "out_of_scope");
    let gen_before: Value = c
        .get(s.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    std::fs::write(
        kb.join("documents/dog-registration.md"),
        "+++\nid = \"dog-registration\"\ntitle = \"养犬登记\"\nkind = \"guide\"\nissuing_body = \"示例市公安局\"\nregion = \"示例市\"\neffective_from = 2024-01-01\nitem_type = \"行政许可\"\ntags = [\"养犬\"]\naliases = [\"犬只登记\", \"狗证\", \"给狗办证\"]\n+++\n\n示例内容。\n\n## 实施机关\n示例市公安局\n\n## 设定依据\n示例市养犬管理条例\n\n## 受理条件\n本市居民\n\n## 申请材料\n- 居民身份证（原件，1份）\n- 犬只免疫证明（原件，1份）\n\n## 办理流程\n1. 申请\n2. 领证\n\n## 办理时限\n5个工作日\n\n## 收费标准\n每只犬登记费300元\n\n## 办理地点\n各派出所\n\n## 办理时间\n工作日\n\n## 咨询电话\n12345\n\n## 办理结果\n养犬登记证\n\n## 到现场次数\n1次\n",
    )
    .unwrap();
    // Rebuild while requests keep coming.
    let kb2 = kb.clone();
    let dir = s.config.data_dir.clone();
    let build = tokio::task::spawn_blocking(move || xiaoban::search::build(&kb2, &dir).unwrap());
    while !build.is_finished() {
        ask("社保卡弄丢了如何补领").await;
        // Paced at the per-address question limit's sustained rate (120 a minute), however
        // long the build takes.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    build.await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let h: Value = c
            .get(s.url("/healthz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if h["index_generation"] != gen_before["index_generation"] {
            break;
        }
        assert!(Instant::now() < deadline, "the new index was not picked up");
        ask("领结婚证需带哪些证件").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = ask("犬只登记怎么办理").await;
    assert_eq!(after["outcome"], "answered", "{after}");
    assert_eq!(after["citations"][0]["doc_id"], "dog-registration");
    let m = common::metrics(&c, &s.url("/metrics")).await;
    assert!(m.contains("xiaoban_index_swaps_total 1"), "{m}");
    s.stop().await;
}
