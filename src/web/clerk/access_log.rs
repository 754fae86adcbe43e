//! The access log page: who viewed which scan, revealed, uploaded, exported or corrected
//! what (field names, never values); for supervisors and auditors.

use super::{Chrome, Look, SignedIn, chrome, problem_page, role_label, when};
use crate::verify::field_name::label_of;
use crate::web::AppState;
use crate::web::auth_api::Denied;
use crate::web::desk::{AccessLogQuery, read_access_log};
use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{OriginalUri, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use std::sync::Arc;

struct LogRow {
    when: String,
    actor: String,
    role: String,
    job_id: String,
    action: &'static str,
    /// Which field was revealed or corrected (its name as the page labels it).
    field: String,
}

#[derive(Template)]
#[template(path = "clerk_log.html")]
struct LogPage {
    chrome: Chrome,
    job_id: String,
    actor: String,
    rows: Vec<LogRow>,
}

fn action_label(a: &str) -> &'static str {
    match a {
        "view_scan" => "查看扫描件",
        "reveal_field" => "显示个人信息",
        "create" => "上传核验",
        "export" => "导出预填记录",
        "edit_field" => "修改字段",
        "confirm_edits" => "确认人工更正",
        _ => "其他",
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LogQuery {
    job_id: String,
    actor: String,
}

/// `GET /clerk/access-log`: who viewed which scan, revealed, uploaded, exported or corrected
/// what; for supervisors and auditors.
pub async fn page(
    State(state): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    signed: SignedIn,
    q: Result<Query<LogQuery>, QueryRejection>,
) -> Response {
    let look = Look::new(&headers, &uri);
    let s = &signed.staff;
    let q = q.ok().map(|Query(q)| q).unwrap_or_default();
    let query = AccessLogQuery {
        job_id: Some(q.job_id.trim().to_string()),
        actor: Some(q.actor.trim().to_string()),
        since: None,
        limit: Some(200),
    };
    match read_access_log(&state, query).await {
        Ok(entries) => super::page(
            &LogPage {
                chrome: chrome(&look, Some(s)),
                job_id: q.job_id,
                actor: q.actor,
                rows: entries
                    .into_iter()
                    .map(|e| LogRow {
                        when: when(e.at),
                        field: match (e.action.as_str(), e.field.as_deref()) {
                            (_, Some(f)) => label_of(f).to_string(),
                            ("reveal_field", None) => "全部字段".to_string(),
                            _ => String::new(),
                        },
                        action: action_label(&e.action),
                        actor: e.actor,
                        role: e.role.parse().map_or("", role_label).to_string(),
                        job_id: e.job_id,
                    })
                    .collect(),
            },
            StatusCode::OK,
            &look,
        ),
        Err(Denied(p)) => problem_page(&look, Some(s), &p),
    }
}
