//! Uploads: one document read at once, or a batch read in the background, and the batch's
//! progress page. The session, the role and the CSRF token (the form's first part) are
//! checked by [`SignedIn`] before the images are read.

use super::sign_in::{JobRow, desk_page, job_row};
use super::{Chrome, Look, SignedIn, chrome, desk_error_page, page};
use crate::web::AppState;
use crate::web::auth_api::Denied;
use crate::web::desk::{desk_problem, front_and_back};
use crate::web::problem::Problem;
use crate::web::session::{Parts, Staff};
use askama::Template;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use std::sync::Arc;

/// The desk again, with why an upload was refused.
async fn refused(state: &AppState, look: &Look, s: &Staff, p: &Problem) -> Response {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = desk_page(state, look, s, status, Some(p.detail.clone())).await;
    if let Some(secs) = p.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// `POST /clerk/upload`: one document (`image`, optional `image_back`), read now; then the
/// result page.
pub async fn upload(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    signed: SignedIn<Parts>,
) -> Response {
    let look = Look::plain(&headers);
    let SignedIn {
        staff: s,
        body: Parts(parts),
        ..
    } = signed;
    let (front, back) = front_and_back(parts);
    let Some(front) = front else {
        let p = Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-upload",
            "Invalid upload",
            "请选择证件正面（人像面）或营业执照的图片。",
        );
        return refused(&state, &look, &s, &p).await;
    };
    let images = 1 + u32::from(back.is_some());
    if let Err(p) = state.limits.admit_uploads(&s.who.user, images) {
        return refused(&state, &look, &s, &p).await;
    }
    match state.desk.verify(&s.who, front, back).await {
        Ok((id, _)) => Redirect::to(&format!("/clerk/jobs/{id}")).into_response(),
        Err(e) => {
            let Denied(p) = desk_problem(&state, e);
            refused(&state, &look, &s, &p).await
        }
    }
}

/// `POST /clerk/batch`: several front images (`images`), read in the background; then the
/// batch's progress page.
pub async fn start_batch(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    signed: SignedIn<Parts>,
) -> Response {
    let look = Look::plain(&headers);
    let SignedIn {
        staff: s,
        body: Parts(parts),
        ..
    } = signed;
    let images: Vec<Vec<u8>> = parts
        .into_iter()
        .filter(|(n, b)| n == "images" && !b.is_empty())
        .map(|(_, b)| b)
        .collect();
    let n = u32::try_from(images.len()).unwrap_or(u32::MAX);
    if n > 0
        && let Err(p) = state.limits.admit_uploads(&s.who.user, n)
    {
        return refused(&state, &look, &s, &p).await;
    }
    match state.desk.start_batch(&s.who, images).await {
        Ok(id) => Redirect::to(&format!("/clerk/batches/{id}")).into_response(),
        Err(e) => {
            let Denied(p) = desk_problem(&state, e);
            refused(&state, &look, &s, &p).await
        }
    }
}

#[derive(Template)]
#[template(path = "clerk_batch.html")]
struct BatchPage {
    chrome: Chrome,
    done: usize,
    total: usize,
    jobs: Vec<JobRow>,
}

/// `GET /clerk/batches/{batch_id}`: progress, each job's outcome as it is read.
pub async fn batch_page(
    State(state): State<Arc<AppState>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    signed: SignedIn,
    Path(batch_id): Path<String>,
) -> Response {
    let look = Look::new(&headers, &uri);
    let s = &signed.staff;
    match state.desk.batch(&s.who, &batch_id).await {
        Ok(b) => page(
            &BatchPage {
                chrome: chrome(&look, Some(s)),
                done: b.done,
                total: b.total,
                jobs: b.jobs.iter().map(job_row).collect(),
            },
            StatusCode::OK,
            &look,
        ),
        Err(e) => desk_error_page(&state, &look, s, e),
    }
}
