//! A job's result page and what is done from it: reveal one field or everything (logged),
//! correct a field, confirm corrections (supervisors), the scan and the pre-fill download.

use super::result_view::{JobExtras, Shown, field_label, job_view_page};
use super::{Look, SignedIn, desk_error_page, problem_page};
use crate::desk::DeskError;
use crate::desk::review::Reveal;
use crate::web::AppState;
use crate::web::auth_api::Denied;
use crate::web::desk::{PrefillQuery, desk_problem, export, scan_response};
use crate::web::session::CsrfForm;
use axum::extract::rejection::QueryRejection;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct JobQuery {
    saved: Option<String>,
    confirmed: Option<String>,
}

/// `GET /clerk/jobs/{job_id}`: the result, masked.
pub async fn job_page(
    State(state): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    signed: SignedIn,
    Path(job_id): Path<String>,
    q: Result<Query<JobQuery>, QueryRejection>,
) -> Response {
    let look = Look::new(&headers, &uri);
    let s = &signed.staff;
    let (saved, confirmed) = q
        .ok()
        .map_or((None, None), |Query(q)| (q.saved, q.confirmed));
    match state.desk.job(&s.who, &job_id, false).await {
        Ok(view) => {
            let notice = saved
                .map(|f| {
                    format!(
                        "已保存对“{}”的修改（修改已记录）。",
                        field_label(view.document_type, &f)
                    )
                })
                .or(confirmed.map(|_| "已确认人工更正；此次确认已记入访问日志。".to_string()));
            let x = JobExtras {
                full: None,
                shown: Shown::Masked,
                error: None,
                notice,
            };
            job_view_page(&state, &look, s, &view, StatusCode::OK, x).await
        }
        Err(e) => desk_error_page(&state, &look, s, e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RevealForm {
    csrf: String,
    /// One field's name; empty for everything (values, pre-fill records and scans).
    field: String,
}

/// `POST /clerk/jobs/{job_id}/reveal`: the page with one field or everything shown in full
/// (logged as `reveal_field`, with the field's name when one is revealed). Answered directly,
/// not redirected: the values are shown to this request only.
pub async fn reveal(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(job_id): Path<String>,
    signed: SignedIn<RevealForm>,
) -> Response {
    let look = Look {
        path: format!("/clerk/jobs/{job_id}"),
        ..Look::plain(&headers)
    };
    let (s, form) = (&signed.staff, &signed.body);
    let masked = match state.desk.job(&s.who, &job_id, false).await {
        Ok(v) => v,
        Err(e) => {
            return desk_error_page(&state, &look, s, e);
        }
    };
    let (what, shown) = if form.field.is_empty() {
        (Reveal::All, Shown::All)
    } else {
        (Reveal::Field(&form.field), Shown::Field(&form.field))
    };
    let full = match state.desk.reveal(&s.who, &job_id, what).await {
        Ok(v) => v,
        Err(e) => {
            return desk_error_page(&state, &look, s, e);
        }
    };
    let notice = Some(if form.field.is_empty() {
        "已显示全部信息和扫描件；此次查看已记入访问日志。".to_string()
    } else {
        format!(
            "已显示“{}”；此次查看已记入访问日志。",
            field_label(masked.document_type, &form.field)
        )
    });
    let x = JobExtras {
        full: full.report.as_ref().filter(|_| !full.masked),
        shown,
        error: None,
        notice,
    };
    job_view_page(&state, &look, s, &masked, StatusCode::OK, x).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EditForm {
    csrf: String,
    field: String,
    value: String,
}

/// `POST /clerk/jobs/{job_id}/fields`: corrects one field, then back to the page.
pub async fn edit(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(job_id): Path<String>,
    signed: SignedIn<EditForm>,
) -> Response {
    let look = Look {
        path: format!("/clerk/jobs/{job_id}"),
        ..Look::plain(&headers)
    };
    let (s, form) = (&signed.staff, &signed.body);
    match state
        .desk
        .edit_field(&s.who, &job_id, &form.field, &form.value)
        .await
    {
        Ok(()) => {
            let f = url_component(&form.field);
            Redirect::to(&format!("/clerk/jobs/{job_id}?saved={f}#f-{f}")).into_response()
        }
        Err(
            e @ (DeskError::BadValue(_)
            | DeskError::BadDate(..)
            | DeskError::UnknownField
            | DeskError::NoReport),
        ) => {
            let Denied(p) = desk_problem(&state, e);
            match state.desk.job(&s.who, &job_id, false).await {
                Ok(view) => {
                    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
                    let x = JobExtras {
                        full: None,
                        shown: Shown::Masked,
                        error: Some(p.detail),
                        notice: None,
                    };
                    job_view_page(&state, &look, s, &view, status, x).await
                }
                Err(_) => problem_page(&look, Some(s), &p),
            }
        }
        Err(e) => desk_error_page(&state, &look, s, e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ConfirmForm {
    csrf: String,
    /// How many corrections the page showed.
    edits: usize,
}

/// `POST /clerk/jobs/{job_id}/confirm`: a supervisor who made none of the corrections
/// confirms those the page showed after comparing with the original (four eyes), then back
/// to the page.
pub async fn confirm(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(job_id): Path<String>,
    signed: SignedIn<ConfirmForm>,
) -> Response {
    let look = Look {
        path: format!("/clerk/jobs/{job_id}"),
        ..Look::plain(&headers)
    };
    let (s, form) = (&signed.staff, &signed.body);
    match state.desk.confirm(&s.who, &job_id, form.edits).await {
        Ok(_) => Redirect::to(&format!("/clerk/jobs/{job_id}?confirmed=1")).into_response(),
        Err(e) => desk_error_page(&state, &look, s, e),
    }
}

fn url_component(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ScanQuery {
    side: Option<String>,
}

/// `GET /clerk/jobs/{job_id}/scan?side=front|back`: the image (logged as `view_scan`).
pub async fn scan(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    signed: SignedIn,
    Path(job_id): Path<String>,
    q: Result<Query<ScanQuery>, QueryRejection>,
) -> Response {
    let look = Look::plain(&headers);
    let s = &signed.staff;
    let side = q.ok().and_then(|Query(q)| q.side);
    match scan_response(&state, &s.who, &job_id, side.as_deref()).await {
        Ok(resp) => resp,
        Err(Denied(p)) => problem_page(&look, Some(s), &p),
    }
}

/// `GET /clerk/jobs/{job_id}/prefill?form=NAME&format=json|csv`: the download (logged as
/// `export`), as the API's.
pub async fn prefill(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    signed: SignedIn,
    Path(job_id): Path<String>,
    q: Result<Query<PrefillQuery>, QueryRejection>,
) -> Response {
    let look = Look::plain(&headers);
    let s = &signed.staff;
    let q = q.ok().map(|Query(q)| q).unwrap_or(PrefillQuery {
        form: None,
        format: None,
    });
    match export(&state, &s.who, &job_id, &q).await {
        Ok(resp) => resp,
        Err(Denied(p)) => problem_page(&look, Some(s), &p),
    }
}

impl CsrfForm for RevealForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl CsrfForm for EditForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl CsrfForm for ConfirmForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}
