//! The document verification API for window clerks and supervisors, and the access log for
//! supervisors and auditors. Who may call what is [`RULES`]; a clerk reaches only their own
//! jobs (others answer 404, as if they did not exist).

use super::AppState;
use super::api::ApiJson;
use super::auth_api::{Denied, require};
use super::desk::{
    AccessLogQuery, PrefillQuery, SIDES, bad_body, desk_problem, export, front_and_back,
    is_multipart, parts, read_access_log, scan_response,
};
use super::problem::Problem;
use crate::account::{Principal, Role};
use crate::desk::{
    ACCESS_LOG_ROLES, BatchView, DeskError, JobView, MAX_BATCH, SUPERVISORS, VERIFY_ROLES,
};
use crate::store::access_log::AccessEntry;
use crate::store::edits::FieldEdit;
use crate::verify::Report;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// Every route of this module with the roles allowed on it (the route × role test reads it).
pub const RULES: &[(&str, &str, &[Role])] = &[
    ("POST", "/api/v1/verify", VERIFY_ROLES),
    ("GET", "/api/v1/verify/{job_id}", VERIFY_ROLES),
    ("GET", "/api/v1/verify/{job_id}/scan", VERIFY_ROLES),
    ("GET", "/api/v1/verify/{job_id}/prefill", VERIFY_ROLES),
    ("GET", "/api/v1/verify/{job_id}/corrections", VERIFY_ROLES),
    ("POST", "/api/v1/verify/{job_id}/corrections", VERIFY_ROLES),
    ("POST", "/api/v1/verify/{job_id}/confirm", SUPERVISORS),
    ("POST", "/api/v1/verify/batch", VERIFY_ROLES),
    ("GET", "/api/v1/verify/batch/{batch_id}", VERIFY_ROLES),
    ("GET", "/api/v1/access-log", ACCESS_LOG_ROLES),
];

/// The body of `POST /api/v1/verify/batch`, which the path macro cannot state: a form whose
/// every part is one document's front image, 1 to [`MAX_BATCH`] of them.
pub struct BatchForm;

impl utoipa::Modify for BatchForm {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::request_body::RequestBodyBuilder;
        use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, Type};
        use utoipa::openapi::{ContentBuilder, KnownFormat, RefOr, Required, SchemaFormat};
        let Some(op) = openapi
            .paths
            .paths
            .get_mut("/api/v1/verify/batch")
            .and_then(|item| item.post.as_mut())
        else {
            return;
        };
        let image = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .min_length(Some(1));
        let images = ArrayBuilder::new()
            .items(image)
            .min_items(Some(1))
            .max_items(Some(MAX_BATCH))
            .description(Some(
                "The documents' front images (JPEG, PNG, WebP or BMP).",
            ));
        let form = ObjectBuilder::new()
            .property("images", images)
            .required("images")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        op.request_body = Some(RefOr::T(
            RequestBodyBuilder::new()
                .description(Some(
                    "multipart/form-data, one file part per document (the parts' names are \
                     free; `images` here)",
                ))
                .content(
                    "multipart/form-data",
                    ContentBuilder::new().schema(Some(form)).build(),
                )
                .required(Some(Required::True))
                .build(),
        ));
    }
}

/// Declares the `bearer` security scheme the protected routes name.
pub struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
            );
    }
}

/// The upload routes, each with a body limit fitting its images (the rest of the API keeps
/// its 64 KB limit).
pub fn routes(max_upload_bytes: usize) -> Router<Arc<AppState>> {
    // Two images, base64 in JSON (4/3) or multipart, plus the envelope.
    let single = max_upload_bytes.saturating_mul(3).saturating_add(64 * 1024);
    let batch = max_upload_bytes
        .saturating_mul(MAX_BATCH + 1)
        .saturating_add(64 * 1024);
    Router::new()
        .route(
            "/api/v1/verify",
            post(verify).layer(DefaultBodyLimit::max(single)),
        )
        .route(
            "/api/v1/verify/batch",
            post(start_batch).layer(DefaultBodyLimit::max(batch)),
        )
}

/// The reading routes (small requests, under the API's 64 KB limit).
pub fn read_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/verify/{job_id}", get(job))
        .route("/api/v1/verify/{job_id}/scan", get(scan))
        .route("/api/v1/verify/{job_id}/prefill", get(prefill))
        .route(
            "/api/v1/verify/{job_id}/corrections",
            get(corrections).post(correct),
        )
        .route("/api/v1/verify/{job_id}/confirm", post(confirm))
        .route("/api/v1/verify/batch/{batch_id}", get(batch))
        .route("/api/v1/access-log", get(access_log))
}

/// Query parameters whose rejection is a problem report.
pub struct ApiQuery<T>(pub T);

impl<T: serde::de::DeserializeOwned + Send> axum::extract::FromRequestParts<Arc<AppState>>
    for ApiQuery<T>
{
    type Rejection = Denied;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Denied> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(q)| ApiQuery(q))
            .map_err(|e| {
                bad_body(
                    state,
                    StatusCode::BAD_REQUEST,
                    &format!("查询参数有误：{}", e.body_text()),
                )
            })
    }
}

#[derive(Deserialize, ToSchema)]
pub struct VerifyJson {
    #[schema(schema_with = front_schema)]
    pub image: String,
    #[schema(schema_with = back_schema)]
    pub image_back: Option<String>,
}

fn front_schema() -> utoipa::openapi::Object {
    super::documented::base64_image(
        false,
        "The front (or only) image, base64 (a `data:image/…;base64,` prefix is allowed).",
    )
}

fn back_schema() -> utoipa::openapi::Object {
    super::documented::or_null(super::documented::base64_image(
        true,
        "The back of an identity card, base64; null, empty or white space for none.",
    ))
}

/// The bytes of a base64 image as `VerifyJson` carries it: standard base64, padded or not,
/// ASCII white space anywhere, optionally after a `data:…,` prefix. `None` when it is not
/// base64 (what `documented::base64_image` states as a pattern).
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let text = match text.strip_prefix("data:") {
        Some(rest) => rest.split_once(',').map_or(rest, |(_, b)| b),
        None => text,
    };
    let text: String = text.split_ascii_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(&text)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(&text))
        .ok()
}

fn decode_image(state: &AppState, text: &str) -> Result<Vec<u8>, Denied> {
    decode_base64(text).ok_or_else(|| {
        bad_body(
            state,
            StatusCode::UNPROCESSABLE_ENTITY,
            "图片不是有效的 base64 编码。",
        )
    })
}

fn too_large_body(state: &AppState, e: &axum::extract::rejection::BytesRejection) -> Denied {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        desk_problem(
            state,
            DeskError::TooLarge(state.desk.config.max_upload_bytes),
        )
    } else {
        bad_body(state, e.status(), "请求体无法读取。")
    }
}

/// 503 with the fetch hint while the OCR models are not installed.
fn desk_ready(state: &AppState) -> Result<(), Denied> {
    if state.desk.availability.available {
        return Ok(());
    }
    Err(desk_problem(
        state,
        DeskError::Unavailable(state.desk.availability.hint.clone().unwrap_or_default()),
    ))
}

/// The per-account upload rate (`limits.uploads_per_minute_per_account`), `images` at once.
fn admit_uploads(state: &AppState, who: &Principal, images: u32) -> Result<(), Denied> {
    state.limits.admit_uploads(&who.user, images).map_err(|p| {
        state.note_problem(&p);
        Denied(p)
    })
}

/// Verify one document. Multipart with `image` and optionally `image_back`, or JSON with the
/// same names in base64. The full result goes back to the uploader and the upload is logged;
/// the scans are stored encrypted and deleted after the retention period.
#[utoipa::path(post, path = "/api/v1/verify", request_body(content = VerifyJson, description = "JSON with base64 images, or multipart/form-data with `image` and `image_back` files"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The job's id and its report, in full", body = Verified),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a clerk or supervisor", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Image too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not an image, or an image format other than JPEG, PNG, WebP and BMP", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty image, bad base64, or no document could be read", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many uploads from this account; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The OCR models are not installed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify(
    State(state): State<Arc<AppState>>,
    who: Principal,
    req: Request,
) -> Result<Json<Verified>, Denied> {
    require(&who, VERIFY_ROLES)?;
    desk_ready(&state)?;
    admit_uploads(&state, &who, 1)?;
    let (front, back) = if is_multipart(&req) {
        let form = Multipart::from_request(req, &state).await.map_err(|_| {
            bad_body(
                &state,
                StatusCode::BAD_REQUEST,
                "上传内容无法读取：multipart 格式有误。",
            )
        })?;
        let (front, back) = front_and_back(parts(&state, form).await?);
        let front = front.ok_or_else(|| {
            bad_body(
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                "缺少图片：请在字段 image 中上传证件正面（人像面）或营业执照。",
            )
        })?;
        (front, back)
    } else {
        let body = Bytes::from_request(req, &state)
            .await
            .map_err(|e| too_large_body(&state, &e))?;
        let json: VerifyJson = serde_json::from_slice(&body).map_err(|_| {
            bad_body(
                &state,
                StatusCode::UNPROCESSABLE_ENTITY,
                "请求体应为 multipart/form-data（字段 image、image_back），或 JSON {\"image\": base64, \"image_back\": base64}。",
            )
        })?;
        let front = decode_image(&state, &json.image)?;
        let back = json
            .image_back
            .as_deref()
            .filter(|s| !s.trim_ascii().is_empty())
            .map(|s| decode_image(&state, s))
            .transpose()?;
        (front, back)
    };
    let (job_id, report) = state
        .desk
        .verify(&who, front, back)
        .await
        .map_err(|e| desk_problem(&state, e))?;
    Ok(Json(Verified { job_id, report }))
}

/// A verification's answer: the job's id beside the report's keys.
#[derive(Serialize, ToSchema)]
pub struct Verified {
    pub job_id: String,
    #[serde(flatten)]
    pub report: Report,
}

#[derive(Deserialize, ToSchema)]
pub struct JobQuery {
    /// Show the field values in full (logged as `reveal_field`).
    #[serde(default)]
    pub reveal: bool,
}

/// A job: its masked outcome, or with `?reveal=true` the full report (logged).
#[utoipa::path(get, path = "/api/v1/verify/{job_id}",
    params(("job_id" = String, Path), ("reveal" = Option<bool>, Query, description = "Show values in full (logged)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a clerk or supervisor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job, or another clerk's", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Revealing after the retention period", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn job(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(job_id): Path<String>,
    ApiQuery(q): ApiQuery<JobQuery>,
) -> Result<Json<JobView>, Denied> {
    require(&who, VERIFY_ROLES)?;
    state
        .desk
        .job(&who, &job_id, q.reveal)
        .await
        .map(Json)
        .map_err(|e| desk_problem(&state, e))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ScanQuery {
    #[param(schema_with = side_schema)]
    pub side: Option<String>,
}

fn side_schema() -> utoipa::openapi::Object {
    super::documented::one_of(SIDES.map(|(name, _)| name), "front (default) or back")
}

/// The uploaded image, decrypted (logged as `view_scan`); never cached.
#[utoipa::path(get, path = "/api/v1/verify/{job_id}/scan",
    params(("job_id" = String, Path), ScanQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The image", content_type = "image/*", body = String),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a clerk or supervisor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job or side", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "side is neither front nor back", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Deleted after the retention period", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn scan(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(job_id): Path<String>,
    ApiQuery(q): ApiQuery<ScanQuery>,
) -> Result<Response, Denied> {
    require(&who, VERIFY_ROLES)?;
    scan_response(&state, &who, &job_id, q.side.as_deref()).await
}

/// The pre-fill records of a job (one form with `form`), in full, as JSON or CSV (logged as
/// `export`).
#[utoipa::path(get, path = "/api/v1/verify/{job_id}/prefill",
    params(("job_id" = String, Path), PrefillQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "JSON {job_id, records: [{form, title, fields}]}, or CSV with the columns 表单,字段,值", content((Object = "application/json"), (String = "text/csv"))),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a clerk or supervisor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job or form", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job has no report yet", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Deleted after the retention period", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown format", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn prefill(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(job_id): Path<String>,
    ApiQuery(q): ApiQuery<PrefillQuery>,
) -> Result<Response, Denied> {
    require(&who, VERIFY_ROLES)?;
    export(&state, &who, &job_id, &q).await
}

/// A correction of one read field.
#[derive(Deserialize, ToSchema)]
pub struct CorrectionRequest {
    /// The field's name in the report (`name`, `birth_date`, `credit_code`, …).
    pub field: String,
    #[schema(schema_with = value_schema)]
    pub value: String,
}

fn value_schema() -> utoipa::openapi::Object {
    super::documented::no_controls(
        crate::desk::review::MAX_FIELD_CHARS,
        "The value read off the document by a person: at most 2000 characters as sent, no \
         control characters (line breaks and tabs included); a date field's as YYYY-MM-DD \
         (`valid_to` also 长期).",
    )
}

/// A supervisor's confirmation of the corrections they compared with the scan.
#[derive(Deserialize, ToSchema)]
pub struct ConfirmRequest {
    /// How many corrections the supervisor was shown (`corrections` of
    /// `GET /api/v1/verify/{job_id}/corrections`): one made since is refused with 409. A
    /// JSON number without a fraction, however written (`3`, `3.0`).
    #[serde(deserialize_with = "whole_number")]
    pub corrections: usize,
}

/// A count as JSON has it: any number without a fraction, `3.0` as well as `3` (JSON does
/// not tell them apart, nor does the OpenAPI document's `integer`); beyond `usize`, the
/// largest `usize` (a count no job reaches, so refused as changed).
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    use serde::de::{Error, Unexpected};
    let n = serde_json::Number::deserialize(d)?;
    if let Some(u) = n.as_u64() {
        return Ok(usize::try_from(u).unwrap_or(usize::MAX));
    }
    match n.as_f64() {
        // `as` saturates: a whole number beyond `usize` becomes `usize::MAX`.
        Some(f) if f >= 0.0 && f.fract() == 0.0 => Ok(f as usize),
        Some(f) => Err(D::Error::invalid_value(
            Unexpected::Float(f),
            &"a whole number of corrections, 0 or more",
        )),
        None => Err(D::Error::custom("a whole number of corrections, 0 or more")),
    }
}

/// A job's corrections and the job as they leave it.
#[derive(Serialize, ToSchema)]
pub struct Corrections {
    /// Who corrected which field when, oldest first (never the values).
    pub corrections: Vec<FieldEdit>,
    /// The job, masked: the checks and the verdict as run again on the corrected fields
    /// (`review` at best until a supervisor confirms).
    pub job: JobView,
}

/// A job's corrections with the job, masked.
async fn corrections_of(
    state: &AppState,
    who: &Principal,
    id: &str,
) -> Result<Corrections, Denied> {
    let job = state
        .desk
        .job(who, id, false)
        .await
        .map_err(|e| desk_problem(state, e))?;
    let corrections = state
        .desk
        .edits(who, id)
        .await
        .map_err(|e| desk_problem(state, e))?;
    Ok(Corrections { corrections, job })
}

/// A body that is checked only after the caller's role, so a caller who may not use the
/// route hears that first.
fn body<T>(state: &AppState, body: Result<ApiJson<T>, Problem>) -> Result<T, Denied> {
    body.map(|ApiJson(v)| v).map_err(|p| {
        state.note_problem(&p);
        Denied(p)
    })
}

/// Who corrected which field of a job, and when, with the job (masked).
#[utoipa::path(get, path = "/api/v1/verify/{job_id}/corrections",
    params(("job_id" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The corrections and the job", body = Corrections),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a clerk or supervisor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job, or another clerk's", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn corrections(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(job_id): Path<String>,
) -> Result<Json<Corrections>, Denied> {
    require(&who, VERIFY_ROLES)?;
    corrections_of(&state, &who, &job_id).await.map(Json)
}

/// Corrects one field the OCR misread. The value is sealed into the report; the checks and
/// the verdict run again on the corrected fields (a corrected document is `review` at best
/// until a supervisor who made none of the corrections confirms them), the pre-fill records
/// follow, and the correction is recorded as who changed which field when (logged as
/// `edit_field`, never with the value).
#[utoipa::path(post, path = "/api/v1/verify/{job_id}/corrections",
    params(("job_id" = String, Path)),
    request_body = CorrectionRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The corrections and the job after this one", body = Corrections),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a clerk or supervisor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job or field, or another clerk's job", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job has no report yet", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Deleted after the retention period", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not declared as JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value too long, with control characters, or a date not YYYY-MM-DD", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn correct(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(job_id): Path<String>,
    req: Result<ApiJson<CorrectionRequest>, Problem>,
) -> Result<Json<Corrections>, Denied> {
    require(&who, VERIFY_ROLES)?;
    let req = body(&state, req)?;
    state
        .desk
        .edit_field(&who, &job_id, &req.field, &req.value)
        .await
        .map_err(|e| desk_problem(&state, e))?;
    corrections_of(&state, &who, &job_id).await.map(Json)
}

/// A supervisor confirms a job's corrections after comparing them with the scan (four
/// eyes): the checks run again with the corrections vouched for, so a job whose only doubt
/// was the corrections passes. Refused to one who made any of the corrections, for a job
/// without corrections or whose checks fail, and when the corrections are no longer the
/// ones counted in the request (logged as `confirm_edits`).
#[utoipa::path(post, path = "/api/v1/verify/{job_id}/confirm",
    params(("job_id" = String, Path)),
    request_body = ConfirmRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The corrections and the confirmed job", body = Corrections),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a supervisor, or one who made a correction", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No corrections, corrections changed since they were counted, failed checks, or no report yet", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "Deleted after the retention period", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not declared as JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The body lacks `corrections`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn confirm(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(job_id): Path<String>,
    req: Result<ApiJson<ConfirmRequest>, Problem>,
) -> Result<Json<Corrections>, Denied> {
    require(&who, SUPERVISORS)?;
    let req = body(&state, req)?;
    state
        .desk
        .confirm(&who, &job_id, req.corrections)
        .await
        .map_err(|e| desk_problem(&state, e))?;
    corrections_of(&state, &who, &job_id).await.map(Json)
}

#[derive(Serialize, ToSchema)]
pub struct BatchStarted {
    pub batch_id: String,
    pub total: usize,
}

/// Verify several documents in the background: every file part of the form is one front
/// image (at most 20). Poll `/api/v1/verify/batch/{batch_id}` for progress.
#[utoipa::path(post, path = "/api/v1/verify/batch",
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Accepted", body = BatchStarted),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a clerk or supervisor", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "An image too large, or too many", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "A file is not an image, or of a format other than JPEG, PNG, WebP and BMP", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many uploads from this account; see Retry-After", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The OCR models are not installed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn start_batch(
    State(state): State<Arc<AppState>>,
    who: Principal,
    req: Request,
) -> Result<(StatusCode, Json<BatchStarted>), Denied> {
    require(&who, VERIFY_ROLES)?;
    desk_ready(&state)?;
    if !is_multipart(&req) {
        return Err(bad_body(
            &state,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "批量核验请用 multipart/form-data 上传，每个文件一张证件图片。",
        ));
    }
    let form = Multipart::from_request(req, &state).await.map_err(|_| {
        bad_body(
            &state,
            StatusCode::BAD_REQUEST,
            "上传内容无法读取：multipart 格式有误。",
        )
    })?;
    let images: Vec<Vec<u8>> = parts(&state, form)
        .await?
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    let total = images.len();
    admit_uploads(&state, &who, u32::try_from(total).unwrap_or(u32::MAX))?;
    let batch_id = state
        .desk
        .start_batch(&who, images)
        .await
        .map_err(|e| desk_problem(&state, e))?;
    Ok((StatusCode::ACCEPTED, Json(BatchStarted { batch_id, total })))
}

/// A batch's progress: `done` of `total`, with each job's masked outcome.
#[utoipa::path(get, path = "/api/v1/verify/batch/{batch_id}",
    params(("batch_id" = String, Path)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Progress", body = BatchView),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a clerk or supervisor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such batch, or another clerk's", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn batch(
    State(state): State<Arc<AppState>>,
    who: Principal,
    Path(batch_id): Path<String>,
) -> Result<Json<BatchView>, Denied> {
    require(&who, VERIFY_ROLES)?;
    state
        .desk
        .batch(&who, &batch_id)
        .await
        .map(Json)
        .map_err(|e| desk_problem(&state, e))
}

#[derive(Serialize, ToSchema)]
pub struct AccessLog {
    pub entries: Vec<AccessEntry>,
}

/// Who viewed which scan, revealed which fields, uploaded what: for supervisors and auditors.
#[utoipa::path(get, path = "/api/v1/access-log",
    params(("job_id" = Option<String>, Query), ("actor" = Option<String>, Query),
        ("since" = Option<i64>, Query), ("limit" = Option<i64>, Query)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Entries, newest first", body = AccessLog),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a supervisor or auditor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn access_log(
    State(state): State<Arc<AppState>>,
    who: Principal,
    ApiQuery(q): ApiQuery<AccessLogQuery>,
) -> Result<Json<AccessLog>, Denied> {
    require(&who, ACCESS_LOG_ROLES)?;
    read_access_log(&state, q)
        .await
        .map(|entries| Json(AccessLog { entries }))
}
