//! End-to-end tests of the widget and the document pages, without JavaScript: forms that post,
//! links that ask, redirects that show the conversation.

use crate::common;

use common::{client, start};

#[tokio::test]
async fn the_widget_works_without_javascript() {
    let s = start(None).await;
    let c = client();
    let r = c.get(s.url("/widget")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.len() < 50 * 1024, "widget is {} bytes", html.len());
    assert!(html.contains("<form class=\"ask\" id=\"ask\" method=\"post\" action=\"/widget\">"));
    assert!(
        html.contains("/widget?q=%E8%BA%AB%E4%BB%BD%E8%AF%81"),
        "quick-question chips are plain links"
    );

    // A chip link asks and redirects to the conversation.
    let r = c.get(s.url("/widget?q=%E8%BA%AB%E4%BB%BD%E8%AF%81%E5%88%B0%E6%9C%9F%E6%8D%A2%E9%A2%86%E6%80%8E%E4%B9%88%E5%8A%9E%E7%90%86")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        loc.starts_with("/widget?s=") && loc.ends_with("#latest"),
        "{loc}"
    );
    let sid = loc["/widget?s=".len()..loc.len() - "#latest".len()].to_string();
    let html = c
        .get(s.url(&loc))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("身份证到期换领怎么办理"));
    assert!(
        html.contains("href=\"/kb/id-card-renewal\""),
        "citation links to the document page"
    );
    assert!(html.contains("居民户口簿"));

    // The plain form continues the same conversation.
    let r = c
        .post(s.url("/widget"))
        .form(&[("question", "上哪里办理呢？"), ("s", sid.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let html = c
        .get(s.url(r.headers()["location"].to_str().unwrap()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("办理地点"),
        "follow-up answered about the same item"
    );
    assert_eq!(html.matches("class=\"turn\"").count(), 2);

    // Feedback buttons post and come back with a thank-you.
    let reply_id = html
        .split("name=\"reply_id\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let r = c
        .post(s.url("/widget/feedback"))
        .form(&[
            ("reply_id", reply_id.as_str()),
            ("helpful", "1"),
            ("s", sid.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let html = c
        .get(s.url(r.headers()["location"].to_str().unwrap()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("谢谢您的反馈"));

    // An empty question shows an error summary linking to the field, and keeps the page.
    let r = c
        .post(s.url("/widget"))
        .form(&[("question", " "), ("s", sid.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("role=\"alert\"") && html.contains("href=\"#question\""));
    assert!(html.contains("问题不能为空"));
    assert!(html.contains("aria-invalid=\"true\""));
    s.stop().await;
}

#[tokio::test]
async fn elder_mode_is_a_remembered_switch() {
    let s = start(None).await;
    let c = client();
    let r = c.get(s.url("/widget?elder=1")).send().await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("xiaoban_elder=1"), "{cookie}");
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("<html lang=\"zh-CN\" class=\"elder\">")
    );
    let html = c
        .get(s.url("/widget"))
        .header("cookie", "xiaoban_elder=1")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("class=\"elder\""),
        "remembered from the cookie"
    );
    assert!(
        html.contains("/widget?elder=0"),
        "a link back to standard mode"
    );
    let r = c
        .get(s.url("/widget?elder=0"))
        .header("cookie", "xiaoban_elder=1")
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("xiaoban_elder=0")
    );
    assert!(!r.text().await.unwrap().contains("class=\"elder\""));
    s.stop().await;
}

#[tokio::test]
async fn document_pages_show_status_and_never_run_embedded_html() {
    let s = start(None).await;
    let c = client();
    let html = c
        .get(s.url("/kb/id-card-renewal"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<h1>居民身份证换领</h1>"));
    assert!(html.contains("现行有效"));
    assert!(html.contains("<h2>办理流程</h2>"));
    let html = c
        .get(s.url("/kb/elderly-allowance-2019"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("已被替代"));
    assert!(html.contains("href=\"/kb/elderly-allowance\""));
    let r = c.get(s.url("/kb/no-such-doc")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = c.get(s.url("/kb/..%2F..%2Fetc")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let list = c
        .get(s.url("/kb"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains("/kb/life-event-newborn"));
    assert!(
        !list.contains("/kb/elderly-allowance-2019"),
        "superseded documents are not listed"
    );
    s.stop().await;
}
