//! The verification desk over HTTP: what the JSON API (`verify_api`) and the clerk page
//! (`clerk`) both need — the problem report for each desk refusal, the parts of a multipart
//! upload, a scan and a pre-fill download as responses, the access log's query.

use super::AppState;
use super::auth_api::Denied;
use super::problem::Problem;
use crate::account::Principal;
use crate::desk::review::PrefillRecord;
use crate::desk::{DeskError, Side};
use crate::photo::IntakeError;
use crate::store::access_log::{AccessEntry, AccessQuery};
use axum::extract::{Multipart, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

pub(super) fn desk_problem(state: &AppState, e: DeskError) -> Denied {
    let (status, kind, title) = match &e {
        DeskError::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "verification-unavailable",
            "Verification unavailable",
        ),
        DeskError::Empty => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty-image",
            "Empty image",
        ),
        DeskError::NotAnImage(IntakeError::UnsupportedFormat { .. }) => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-image-format",
            "Unsupported image format",
        ),
        DeskError::NotAnImage(_) => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not-an-image",
            "Not an image",
        ),
        DeskError::TooLarge(_) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "image-too-large",
            "Image too large",
        ),
        DeskError::TooMany(_) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-many-images",
            "Too many images",
        ),
        DeskError::NotFound => (StatusCode::NOT_FOUND, "unknown-job", "Unknown job"),
        DeskError::Purged => (StatusCode::GONE, "scan-deleted", "Scan deleted"),
        DeskError::NoBack => (StatusCode::NOT_FOUND, "no-back-image", "No back image"),
        DeskError::NoReport => (StatusCode::CONFLICT, "no-report", "No report yet"),
        DeskError::UnknownField => (StatusCode::NOT_FOUND, "unknown-field", "Unknown field"),
        DeskError::UnknownForm => (StatusCode::NOT_FOUND, "unknown-form", "Unknown form"),
        DeskError::BadValue(_) | DeskError::BadDate(..) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-field-value",
            "Invalid field value",
        ),
        DeskError::SupervisorOnly => (
            StatusCode::FORBIDDEN,
            "supervisor-only",
            "Only a supervisor confirms",
        ),
        DeskError::NothingToConfirm => (
            StatusCode::CONFLICT,
            "nothing-to-confirm",
            "No corrections to confirm",
        ),
        DeskError::ConfirmStale => (
            StatusCode::CONFLICT,
            "corrections-changed",
            "Corrections changed since they were shown",
        ),
        DeskError::OwnCorrection => (
            StatusCode::FORBIDDEN,
            "own-correction",
            "A correction is confirmed by someone else",
        ),
        DeskError::ConfirmFailed => (
            StatusCode::CONFLICT,
            "checks-failed",
            "Failed checks cannot be confirmed",
        ),
        DeskError::Unreadable(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "unreadable-document",
            "Document could not be read",
        ),
        DeskError::Sealed(err) => {
            tracing::error!(error = %err, "a sealed record did not open");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "scan-key-mismatch",
                "Sealed record does not open",
            )
        }
        DeskError::Internal(err) => {
            tracing::error!(error = %err, "verification request failed");
            let p = Problem::internal();
            state.note_problem(&p);
            return Denied(p);
        }
    };
    let p = Problem::new(status, kind, title, e.to_string());
    let p = if matches!(e, DeskError::Unavailable(_)) {
        p.retry_after(3600)
    } else {
        p
    };
    state.note_problem(&p);
    Denied(p)
}

pub(super) fn bad_body(state: &AppState, status: StatusCode, detail: &str) -> Denied {
    let p = Problem::new(status, "invalid-upload", "Invalid upload", detail);
    state.note_problem(&p);
    Denied(p)
}

fn multipart_error(state: &AppState, e: axum::extract::multipart::MultipartError) -> Denied {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return desk_problem(
            state,
            DeskError::TooLarge(state.desk.config.max_upload_bytes),
        );
    }
    bad_body(
        state,
        StatusCode::BAD_REQUEST,
        "上传内容无法读取：请用 multipart/form-data 上传图片。",
    )
}

/// The files of a multipart upload, by field name.
pub(super) async fn parts(
    state: &AppState,
    mut form: Multipart,
) -> Result<Vec<(String, Vec<u8>)>, Denied> {
    let mut out = Vec::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            // A form without a single part (just the closing boundary) is an upload of
            // nothing, said as such below.
            Err(e) if out.is_empty() && e.status() != StatusCode::PAYLOAD_TOO_LARGE => break,
            Err(e) => return Err(multipart_error(state, e)),
        };
        let name = field.name().unwrap_or("").to_string();
        let bytes = field.bytes().await.map_err(|e| multipart_error(state, e))?;
        out.push((name, bytes.to_vec()));
    }
    Ok(out)
}

/// The front and back images among a form's parts (`image`, `image_back`, or their aliases).
/// A file input left empty sends an empty part: no back image.
pub(super) fn front_and_back(parts: Vec<(String, Vec<u8>)>) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let mut front = None;
    let mut back = None;
    for (name, bytes) in parts {
        match name.as_str() {
            "image" | "image_front" | "front" => front = Some(bytes),
            "image_back" | "back" if !bytes.is_empty() => back = Some(bytes),
            _ => {}
        }
    }
    (front, back)
}

pub(super) fn is_multipart(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"))
}

/// The scan sides by their names in a query (`side=`), front the default.
pub const SIDES: [(&str, Side); 2] = [("front", Side::Front), ("back", Side::Back)];

/// One side of a job's scan as a response (logged as `view_scan`), for the API and the page.
pub(super) async fn scan_response(
    state: &AppState,
    who: &Principal,
    job_id: &str,
    side: Option<&str>,
) -> Result<Response, Denied> {
    let side = match side {
        None => Side::Front,
        Some(s) => SIDES
            .into_iter()
            .find_map(|(name, side)| (name == s).then_some(side))
            .ok_or_else(|| {
                bad_body(
                    state,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "side 只能是 front 或 back。",
                )
            })?,
    };
    let (image, kind) = state
        .desk
        .scan(who, job_id, side)
        .await
        .map_err(|e| desk_problem(state, e))?;
    let mut resp = image.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PrefillQuery {
    /// One form's mapping name (`forms/NAME.toml`); every form when absent.
    pub form: Option<String>,
    #[param(schema_with = format_schema)]
    pub format: Option<String>,
}

fn format_schema() -> utoipa::openapi::Object {
    super::documented::one_of(
        ExportFormat::ALL.map(|(name, _)| name),
        "json (default) or csv",
    )
}

/// How a pre-fill record is downloaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Json,
    Csv,
}

impl ExportFormat {
    /// By their names in a query (`format=`).
    pub const ALL: [(&str, ExportFormat); 2] =
        [("json", ExportFormat::Json), ("csv", ExportFormat::Csv)];

    pub fn parse(s: Option<&str>) -> Option<ExportFormat> {
        match s {
            None => Some(ExportFormat::Json),
            Some(s) => ExportFormat::ALL
                .into_iter()
                .find_map(|(name, f)| (name == s).then_some(f)),
        }
    }
}

/// A cell that a spreadsheet would run as a formula gets a leading apostrophe (OWASP's
/// advice against CSV injection); other values pass unchanged.
fn csv_cell(v: &str) -> String {
    if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v.to_string()
    }
}

/// Pre-fill records as a download: JSON `{"job_id", "records": [{"form", "title", "fields"}]}`
/// or CSV with the columns 表单,字段,值 (UTF-8 with a byte-order mark, which spreadsheet
/// programs need to read Chinese). Never cached.
fn prefill_download(job_id: &str, records: &[PrefillRecord], format: ExportFormat) -> Response {
    let (body, kind, ext) = match format {
        ExportFormat::Json => (
            serde_json::to_vec_pretty(&serde_json::json!({"job_id": job_id, "records": records}))
                .unwrap_or_default(),
            "application/json",
            "json",
        ),
        ExportFormat::Csv => {
            let mut w = csv::Writer::from_writer("\u{feff}".as_bytes().to_vec());
            let mut rows = vec![["表单".to_string(), "字段".to_string(), "值".to_string()]];
            for r in records {
                for (field, value) in &r.fields {
                    rows.push([r.form.clone(), csv_cell(field), csv_cell(value)]);
                }
            }
            for row in rows {
                // Writing to memory cannot fail.
                let _ = w.write_record(row);
            }
            (
                w.into_inner().unwrap_or_default(),
                "text/csv; charset=utf-8",
                "csv",
            )
        }
    };
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) =
        HeaderValue::from_str(&format!("attachment; filename=\"prefill-{job_id}.{ext}\""))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// A job's pre-fill records as a download (logged as `export`), for the API and the page.
pub(super) async fn export(
    state: &AppState,
    who: &Principal,
    job_id: &str,
    q: &PrefillQuery,
) -> Result<Response, Denied> {
    let format = ExportFormat::parse(q.format.as_deref()).ok_or_else(|| {
        bad_body(
            state,
            StatusCode::UNPROCESSABLE_ENTITY,
            "format 只能是 json 或 csv。",
        )
    })?;
    let form = q.form.as_deref().filter(|f| !f.is_empty());
    let records = state
        .desk
        .prefill(who, job_id, form)
        .await
        .map_err(|e| desk_problem(state, e))?;
    Ok(prefill_download(job_id, &records, format))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct AccessLogQuery {
    pub job_id: Option<String>,
    pub actor: Option<String>,
    /// Unix seconds.
    pub since: Option<i64>,
    /// At most this many entries, newest first (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// Access-log entries as asked, newest first, for the API and the page.
pub(super) async fn read_access_log(
    state: &AppState,
    q: AccessLogQuery,
) -> Result<Vec<AccessEntry>, Denied> {
    let query = AccessQuery {
        job_id: q.job_id.filter(|s| !s.is_empty()),
        actor: q.actor.filter(|s| !s.is_empty()),
        since: q.since,
        limit: q.limit.unwrap_or(100).clamp(1, 1000),
    };
    match state.desk_store().access_log(&query).await {
        Ok(entries) => Ok(entries),
        Err(e) => {
            tracing::error!(error = %e, "access log read failed");
            Err(Denied(Problem::internal()))
        }
    }
}

impl AppState {
    pub(super) fn desk_store(&self) -> &crate::store::Store {
        &self.assistant.store
    }
}
