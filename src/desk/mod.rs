//! The verification desk: a clerk's upload becomes a job. The document reader (OCR and the
//! checks of `crate::verify`) reads it; the scans and the full report are sealed at rest
//! ([`crate::store::seal`]); the masked outcome is what stays readable and what remains after
//! the retention period; every view of a scan, reveal of fields and upload is written to the
//! access log.
//!
//! **Invariants:** nothing here knows about HTTP; no personal data in log lines or error
//! messages (reader errors are redacted before they are kept or shown); a clerk reaches only
//! their own jobs, a supervisor every job, other roles none.

pub mod mask;
pub mod review;

use crate::account::{Principal, Role};
use crate::config::{Config, ScansConfig};
use crate::metrics::{Metrics, RecoveryLabels};
use crate::photo::IntakeError;
use crate::store::Store;
use crate::store::access_log::Access;
use crate::store::jobs::{Claim, Finished, JobRecord, JobStatus};
use crate::store::seal::{Keyring, SealError, Sealer};
use crate::verify::{DocumentType, Forms, Report, Verdict};
use anyhow::{Context, Result};
use chrono::NaiveDate;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde::Serialize;
use std::sync::Arc;

/// Reads one document from its images: which document, fields, checks, warnings, verdict,
/// pre-fill, as the JSON of `verify::Report`.
pub trait DocumentReader: Send + Sync {
    fn read(
        &self,
        front: &[u8],
        back: Option<&[u8]>,
        today: NaiveDate,
    ) -> Result<Report, ReadError>;
}

/// Why a reader gave no report. The message may be shown to the clerk (after redaction).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The image is not a document the reader knows, or nothing could be read from it.
    #[error("{0}")]
    Unreadable(String),
    /// The reader failed (model error, bug).
    #[error("{0}")]
    Failed(String),
}

/// Whether documents can be verified, and if not, what to do.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Availability {
    pub available: bool,
    /// How to make verification available, when it is not.
    pub hint: Option<String>,
}

/// What an administrator runs when the OCR models are missing.
pub const FETCH_HINT: &str = "证件识别暂不可用：识别模型未安装。请运行 `xiaoban models fetch pp-ocrv6 && xiaoban models fetch onnxruntime` 后重启服务。";

/// The analysis of `crate::verify` on the PP-OCR engine, as a reader.
struct VerifierReader(crate::verify::Verifier);

impl DocumentReader for VerifierReader {
    fn read(
        &self,
        front: &[u8],
        back: Option<&[u8]>,
        today: NaiveDate,
    ) -> Result<Report, ReadError> {
        use crate::verify::VerifyError;
        match self.0.verify(front, back, today) {
            Ok(report) => Ok(report),
            Err(e @ VerifyError::Intake { .. }) => Err(ReadError::Unreadable(e.to_string())),
            Err(e @ VerifyError::Ocr { .. }) => Err(ReadError::Failed(e.to_string())),
        }
    }
}

/// Readers already loaded in this process, by models folder and forms folder: the ONNX models
/// are loaded once however many servers start (the tests start many).
type Loaded = std::collections::HashMap<
    (std::path::PathBuf, std::path::PathBuf, usize),
    Arc<dyn DocumentReader>,
>;
static LOADED: std::sync::Mutex<Option<Loaded>> = std::sync::Mutex::new(None);

/// The reader the configuration allows: the OCR models and runtime must be on disk, and the
/// form mappings must parse. Otherwise none, and why.
pub fn reader_from_config(config: &Config) -> (Option<Arc<dyn DocumentReader>>, Availability) {
    let key = (
        config.models_dir.clone(),
        config.scans.forms_dir.clone(),
        config.scans.max_upload_bytes,
    );
    let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(r) = loaded.as_ref().and_then(|m| m.get(&key)) {
        return (
            Some(r.clone()),
            Availability {
                available: true,
                hint: None,
            },
        );
    }
    let unavailable = |hint: String| {
        (
            None,
            Availability {
                available: false,
                hint: Some(hint),
            },
        )
    };
    let forms = match crate::verify::Forms::load(&config.scans.forms_dir) {
        Ok(f) => f,
        Err(e) => return unavailable(format!("证件识别暂不可用：表单映射有误（{e}）。")),
    };
    let ocr = match crate::ocr::OcrEngine::load(&config.models_dir) {
        Ok(ocr) => ocr,
        Err(e) => return unavailable(e.to_string()),
    };
    let mut verifier = crate::verify::Verifier::new(ocr, forms);
    verifier.limits.max_bytes = config.scans.max_upload_bytes;
    let reader: Arc<dyn DocumentReader> = Arc::new(VerifierReader(verifier));
    loaded
        .get_or_insert_with(Default::default)
        .insert(key, reader.clone());
    tracing::info!(models = %config.models_dir.display(), "document verification ready");
    (
        Some(reader),
        Availability {
            available: true,
            hint: None,
        },
    )
}

/// Which image of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Front,
    Back,
}

impl Side {
    fn label(self) -> &'static str {
        match self {
            Side::Front => "front",
            Side::Back => "back",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("{0}")]
    Unavailable(String),
    #[error("上传的图片是空的，请重新选择文件。")]
    Empty,
    /// Not an image, or one of a format intake refuses: what `photo::sniff` says, so an
    /// upload is accepted exactly when the reader can decode it.
    #[error("{0}")]
    NotAnImage(IntakeError),
    #[error("图片太大：每张不超过 {} MB。", .0 / (1024 * 1024))]
    TooLarge(usize),
    #[error("一次最多上传 {0} 张图片。")]
    TooMany(usize),
    #[error("没有这个核验任务，或您无权查看。")]
    NotFound,
    #[error("扫描件已超过保存期限，已被删除；只保留了打码后的核验结果。")]
    Purged,
    #[error("这个任务没有背面图片。")]
    NoBack,
    #[error("这个任务还没有识别结果（仍在排队，或识别失败）。")]
    NoReport,
    #[error("这个证件没有该字段。")]
    UnknownField,
    #[error("没有这个表单的预填记录：请从核验结果列出的表单中选择。")]
    UnknownForm,
    #[error("修改后的值不能含控制字符，且不超过 {0} 个字。")]
    BadValue(usize),
    #[error("“{0}”请按 YYYY-MM-DD 填写（例如 1990-03-07）{1}。")]
    BadDate(&'static str, &'static str),
    #[error("只有主管可以确认人工更正。")]
    SupervisorOnly,
    #[error("这个任务没有人工更正，无需确认。")]
    NothingToConfirm,
    #[error("打开页面后又有新的更正，确认没有执行：请重新对照原件核对后再确认。")]
    ConfirmStale,
    #[error("不能确认自己参与的更正：请另一位主管对照原件确认（四眼原则）。")]
    OwnCorrection,
    #[error("按更正后的值核对仍未通过，不能确认：请先更正字段，或按不通过处理。")]
    ConfirmFailed,
    #[error("无法识别证件：{0}")]
    Unreadable(String),
    /// A sealed record did not open: the key changed or the record was altered.
    #[error(transparent)]
    Sealed(#[from] SealError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Roles that verify documents and read jobs.
pub const VERIFY_ROLES: &[Role] = &[Role::Clerk, Role::Supervisor];
/// Roles that read the access log.
pub const ACCESS_LOG_ROLES: &[Role] = &[Role::Supervisor, Role::Auditor];
/// Roles that confirm another person's corrections (four eyes).
pub const SUPERVISORS: &[Role] = &[Role::Supervisor];

/// Most images in one batch.
pub const MAX_BATCH: usize = 20;

/// A job as shown: the masked outcome, or with `reveal` the full report.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobView {
    pub job_id: String,
    pub status: JobStatus,
    pub owner: String,
    pub batch_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Once read.
    pub document_type: Option<DocumentType>,
    /// Once read; after corrections, as run again on them.
    pub verdict: Option<Verdict>,
    /// Whether field values are masked (the default) or shown in full (`reveal`, logged).
    pub masked: bool,
    /// Whether the scans and the full report have been deleted after the retention period.
    pub purged: bool,
    pub has_back: bool,
    /// The report, once read: masked unless revealed.
    pub report: Option<Report>,
    /// Why the job failed.
    pub error: Option<String>,
}

/// A batch's progress.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BatchView {
    pub batch_id: String,
    pub done: usize,
    pub total: usize,
    pub jobs: Vec<JobView>,
}

pub struct Desk {
    store: Store,
    sealer: Sealer,
    reader: Option<Arc<dyn DocumentReader>>,
    pub availability: Availability,
    pub config: ScansConfig,
    /// This process's name in job claims.
    pub node: String,
    /// Wakes this node's workers when a batch is queued here.
    wake: tokio::sync::Notify,
    running: Running,
    /// Queued jobs whose scans this node cannot open; most recent last, at most
    /// [`MAX_PASSED_OVER`].
    passed_over: std::sync::Mutex<Vec<String>>,
    /// Jobs taken up after a lease ran out, or given up (`xiaoban_verify_jobs_recovered`);
    /// counted nowhere unless [`Desk::counting_in`] hands over the server's metrics.
    recovered: Family<RecoveryLabels, Counter>,
}

const MAX_PASSED_OVER: usize = 200;

/// The associated data binding a sealed part (`front`, `back`, `report`) to its job.
pub fn aad(job_id: &str, part: &str) -> Vec<u8> {
    format!("xiaoban:job:{job_id}:{part}").into_bytes()
}

/// Supervisors see every job; clerks their own; nobody else any.
pub fn may_see(who: &Principal, job: &JobRecord) -> bool {
    match who.role {
        Role::Supervisor => true,
        Role::Clerk => job.owner == who.user,
        Role::Admin | Role::Auditor | Role::Agent => false,
    }
}

fn today() -> NaiveDate {
    chrono::Local::now().date_naive()
}

/// What the desk keeps of a report, and the response fields beside it.
/// A stored report or outcome, read back.
fn parse_report(json: &[u8]) -> Result<Report> {
    serde_json::from_slice(json).context("stored report")
}

impl Desk {
    pub fn new(
        store: Store,
        keys: impl Into<Keyring>,
        config: ScansConfig,
        reader: (Option<Arc<dyn DocumentReader>>, Availability),
    ) -> Desk {
        Desk {
            store,
            sealer: Sealer::new(keys, config.cipher),
            availability: reader.1,
            reader: reader.0,
            config,
            node: node_name(),
            wake: tokio::sync::Notify::new(),
            running: Running::default(),
            passed_over: Default::default(),
            recovered: Family::default(),
        }
    }

    /// Counts recovered jobs in the server's metrics.
    pub fn counting_in(mut self, metrics: &Metrics) -> Desk {
        self.recovered = metrics.verify_jobs_recovered.clone();
        self
    }

    fn count_recovered(&self, outcome: &str) {
        self.recovered
            .get_or_create(&RecoveryLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// The form mappings, for masking the pre-fill records (none when they do not load: then
    /// every pre-filled value is masked).
    fn forms(&self) -> Forms {
        Forms::load(&self.config.forms_dir).unwrap_or_default()
    }

    /// The masked outcome of `report`, as stored.
    fn outcome_of(&self, report: &Report) -> Result<String> {
        serde_json::to_string(&mask::masked_report(report, &self.forms())).context("outcome")
    }

    fn reader(&self) -> Result<Arc<dyn DocumentReader>, DeskError> {
        self.reader.clone().ok_or_else(|| {
            DeskError::Unavailable(
                self.availability
                    .hint
                    .clone()
                    .unwrap_or_else(|| FETCH_HINT.to_string()),
            )
        })
    }

    /// Checks one uploaded image before it is stored: not empty, within the size limit, and
    /// of a format intake decodes (by content, with intake's own `photo::sniff`).
    pub fn check_image(&self, bytes: &[u8]) -> Result<(), DeskError> {
        if bytes.is_empty() {
            return Err(DeskError::Empty);
        }
        if bytes.len() > self.config.max_upload_bytes {
            return Err(DeskError::TooLarge(self.config.max_upload_bytes));
        }
        crate::photo::sniff(bytes).map_err(DeskError::NotAnImage)?;
        Ok(())
    }

    /// Verifies one document now: the job is stored sealed, claimed by this node and logged
    /// as `create`; the full report goes back to the uploader. If the node dies while reading,
    /// the job's lease runs out and a worker (here after a restart, or on another node) reads
    /// it.
    pub async fn verify(
        &self,
        who: &Principal,
        front: Vec<u8>,
        back: Option<Vec<u8>>,
    ) -> Result<(String, Report), DeskError> {
        let reader = self.reader()?;
        self.check_image(&front)?;
        if let Some(b) = &back {
            self.check_image(b)?;
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let claim = self
            .store
            .insert_claimed_job(
                &id,
                &who.user,
                &self.node,
                self.lease_ms(),
                self.sealer.seal(&aad(&id, "front"), &front),
                back.as_ref()
                    .map(|b| self.sealer.seal(&aad(&id, "back"), b)),
            )
            .await?;
        self.store
            .log_access(&who.user, who.role.as_str(), &id, Access::Create)
            .await?;
        let report = self.read(&reader, claim, front, back).await?;
        Ok((id, report))
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.config.lease_secs.max(1))
            .unwrap_or(i64::MAX / 2_000)
            .saturating_mul(1000)
    }

    /// Reads a claimed job's images and records the result, renewing the lease meanwhile.
    async fn read(
        &self,
        reader: &Arc<dyn DocumentReader>,
        claim: Claim,
        front: Vec<u8>,
        back: Option<Vec<u8>>,
    ) -> Result<Report, DeskError> {
        let _running = self.running.hold(&claim);
        let lease = self.lease_ms();
        let renew = {
            let store = self.store.clone();
            let claim = claim.clone();
            tokio::spawn(async move {
                let every = std::time::Duration::from_millis((lease / 3).max(100) as u64);
                loop {
                    tokio::time::sleep(every).await;
                    match store.renew_claim(&claim, lease).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(job = %claim.job_id, "lease lost while reading");
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(job = %claim.job_id, error = %e, "lease renewal failed")
                        }
                    }
                }
            })
        };
        // Stops renewing however the read ends, also when the request reading it is dropped
        // (the client went away): the lease then runs out and a worker takes the job up.
        let _renewing = AbortOnDrop(renew);
        self.read_and_record(reader, &claim, front, back).await
    }

    async fn read_and_record(
        &self,
        reader: &Arc<dyn DocumentReader>,
        claim: &Claim,
        front: Vec<u8>,
        back: Option<Vec<u8>>,
    ) -> Result<Report, DeskError> {
        let id = claim.job_id.as_str();
        let started = std::time::Instant::now();
        let r = reader.clone();
        let read = tokio::task::spawn_blocking(move || r.read(&front, back.as_deref(), today()))
            .await
            .context("document reader task")?;
        match read {
            Ok(report) => {
                let (document_type, verdict) = (report.document_type, report.verdict);
                let masked = self.outcome_of(&report)?;
                let sealed = self.sealer.seal(
                    &aad(id, "report"),
                    &serde_json::to_vec(&report).context("report")?,
                );
                let recorded = self
                    .store
                    .finish_job(
                        claim,
                        Finished {
                            status: JobStatus::Done,
                            document_type: Some(document_type.as_str()),
                            verdict: Some(verdict.as_str()),
                            outcome: Some(&masked),
                            error: None,
                            report: Some(sealed),
                        },
                    )
                    .await?;
                if !recorded {
                    tracing::warn!(job = id, "another reader took the job over: result dropped");
                }
                tracing::info!(
                    job = id,
                    document_type = document_type.as_str(),
                    verdict = verdict.as_str(),
                    attempt = claim.attempts,
                    ms = started.elapsed().as_millis() as u64,
                    "document verified"
                );
                Ok(report)
            }
            Err(e) => {
                // The reader's message could quote what it read: redacted before anything
                // keeps or shows it.
                let why = crate::privacy::redact(&e.to_string()).text;
                let failed = matches!(e, ReadError::Failed(_));
                let error = if failed {
                    "识别过程出错，请稍后重试或人工核验。".to_string()
                } else {
                    why
                };
                self.fail(claim, &error).await?;
                if failed {
                    tracing::error!(job = id, "document reader failed");
                    Err(DeskError::Internal(anyhow::anyhow!(
                        "document reader failed"
                    )))
                } else {
                    tracing::info!(job = id, "document could not be read");
                    Err(DeskError::Unreadable(error))
                }
            }
        }
    }

    /// Records a claimed job as failed with a reason the clerk sees.
    async fn fail(&self, claim: &Claim, error: &str) -> Result<bool> {
        self.store
            .finish_job(
                claim,
                Finished {
                    status: JobStatus::Failed,
                    document_type: None,
                    verdict: None,
                    outcome: None,
                    error: Some(error),
                    report: None,
                },
            )
            .await
    }

    /// Stores a batch of front images as pending jobs for the workers (on this node or
    /// another) and returns the batch id at once.
    pub async fn start_batch(
        self: &Arc<Self>,
        who: &Principal,
        images: Vec<Vec<u8>>,
    ) -> Result<String, DeskError> {
        self.reader()?;
        if images.is_empty() {
            return Err(DeskError::Empty);
        }
        if images.len() > MAX_BATCH {
            return Err(DeskError::TooMany(MAX_BATCH));
        }
        for img in &images {
            self.check_image(img)?;
        }
        let batch_id = uuid::Uuid::new_v4().simple().to_string();
        self.store
            .insert_batch(&batch_id, &who.user, images.len() as i64)
            .await?;
        for (seq, img) in images.into_iter().enumerate() {
            let id = uuid::Uuid::new_v4().simple().to_string();
            self.store
                .insert_job(
                    &id,
                    &who.user,
                    Some((&batch_id, seq as i64)),
                    self.sealer.seal(&aad(&id, "front"), &img),
                    None,
                )
                .await?;
            self.store
                .log_access(&who.user, who.role.as_str(), &id, Access::Create)
                .await?;
        }
        self.wake.notify_waiters();
        tracing::info!(batch = %batch_id, "batch queued");
        Ok(batch_id)
    }

    async fn visible_job(&self, who: &Principal, id: &str) -> Result<JobRecord, DeskError> {
        match self.store.job(id).await? {
            Some(job) if may_see(who, &job) => Ok(job),
            _ => Err(DeskError::NotFound),
        }
    }

    fn view(
        &self,
        job: &JobRecord,
        report: Option<Report>,
        masked: bool,
        has_back: bool,
    ) -> JobView {
        JobView {
            job_id: job.id.clone(),
            status: job.status,
            owner: job.owner.clone(),
            batch_id: job.batch_id.clone(),
            created_at: job.created_at,
            document_type: job.document_type.as_deref().and_then(DocumentType::parse),
            verdict: job.verdict.as_deref().and_then(Verdict::parse),
            masked,
            purged: job.purged_at.is_some(),
            has_back,
            report,
            error: job.error.clone(),
        }
    }

    /// A job, masked; with `reveal` the full report (logged as `reveal_field`). After the
    /// retention period only the masked outcome exists.
    pub async fn job(&self, who: &Principal, id: &str, reveal: bool) -> Result<JobView, DeskError> {
        let job = self.visible_job(who, id).await?;
        let sealed = self
            .store
            .job_sealed(id)
            .await?
            .ok_or(DeskError::NotFound)?;
        let has_back = sealed.scan_back.is_some();
        let masked = job
            .outcome
            .as_deref()
            .map(|o| parse_report(o.as_bytes()))
            .transpose()?;
        if !reveal {
            return Ok(self.view(&job, masked, true, has_back));
        }
        let Some(report) = sealed.report else {
            if job.purged_at.is_some() {
                return Err(DeskError::Purged);
            }
            return Ok(self.view(&job, masked, true, has_back));
        };
        let plain = self.sealer.open(&aad(id, "report"), &report)?;
        let report = parse_report(&plain)?;
        self.store
            .log_access(&who.user, who.role.as_str(), id, Access::RevealField)
            .await?;
        Ok(self.view(&job, Some(report), false, has_back))
    }

    /// The decrypted image of one side (logged as `view_scan`) and its media type.
    pub async fn scan(
        &self,
        who: &Principal,
        id: &str,
        side: Side,
    ) -> Result<(Vec<u8>, &'static str), DeskError> {
        let job = self.visible_job(who, id).await?;
        let sealed = self
            .store
            .job_sealed(id)
            .await?
            .ok_or(DeskError::NotFound)?;
        let blob = match side {
            Side::Front => sealed.scan_front,
            Side::Back => sealed.scan_back,
        };
        let Some(blob) = blob else {
            return Err(if job.purged_at.is_some() {
                DeskError::Purged
            } else {
                DeskError::NoBack
            });
        };
        let image = self.sealer.open(&aad(id, side.label()), &blob)?;
        self.store
            .log_access(&who.user, who.role.as_str(), id, Access::ViewScan)
            .await?;
        let kind =
            crate::photo::sniff(&image).map_or("application/octet-stream", |f| f.to_mime_type());
        Ok((image, kind))
    }

    /// A batch's progress with each job's masked outcome.
    pub async fn batch(&self, who: &Principal, id: &str) -> Result<BatchView, DeskError> {
        let batch = self.store.batch(id).await?.ok_or(DeskError::NotFound)?;
        let visible = match who.role {
            Role::Supervisor => true,
            Role::Clerk => batch.owner == who.user,
            _ => false,
        };
        if !visible {
            return Err(DeskError::NotFound);
        }
        let jobs = self.store.batch_jobs(id).await?;
        let views: Vec<JobView> = jobs
            .iter()
            .map(|j| {
                let masked = j
                    .outcome
                    .as_deref()
                    .and_then(|o| parse_report(o.as_bytes()).ok());
                self.view(j, masked, true, false)
            })
            .collect();
        Ok(BatchView {
            batch_id: batch.id,
            done: views
                .iter()
                .filter(|v| v.status != JobStatus::Pending)
                .count(),
            total: batch.total as usize,
            jobs: views,
        })
    }

    /// Reads one job a worker claimed: a job taken up too often (it crashed its readers) is
    /// marked failed instead; one whose scans do not open here (another key) is left for its
    /// lease to run out, so that a node holding the right key can take it up.
    async fn take_up(&self, reader: &Arc<dyn DocumentReader>, claim: Claim) {
        let id = claim.job_id.clone();
        if claim.attempts > i64::from(self.config.max_attempts.max(1)) {
            match self.fail(&claim, GAVE_UP).await {
                Ok(true) => {
                    self.count_recovered("failed");
                    tracing::error!(job = %id, attempts = claim.attempts - 1, "job abandoned after repeated interruptions")
                }
                // The claim was lost meanwhile: its new holder decides.
                Ok(false) => {}
                Err(e) => tracing::error!(job = %id, error = %e, "could not mark the job failed"),
            }
            return;
        }
        // Claimed again although nobody gave it back: its last reader's lease ran out.
        if claim.attempts > 1 {
            self.count_recovered("retried");
        }
        let sealed = match self.store.job_sealed(&id).await {
            Ok(Some(s)) => s,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(job = %id, error = %e, "could not load a claimed job");
                return;
            }
        };
        let Some(front) = sealed.scan_front else {
            return;
        };
        let opened = self.sealer.open(&aad(&id, "front"), &front).and_then(|f| {
            let back = sealed
                .scan_back
                .map(|b| self.sealer.open(&aad(&id, "back"), &b))
                .transpose()?;
            Ok((f, back))
        });
        let (front, back) = match opened {
            Ok(parts) => parts,
            Err(e) => {
                // Another deployment's job in a shared database, or a key this node lacks:
                // given back at once for a node that holds the key, and passed over here.
                tracing::warn!(job = %id, error = %e, "claimed job's scans do not open with this node's keys");
                self.passed_over
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(id);
                if let Err(e) = self.store.release_claim(&claim).await {
                    tracing::error!(job = %claim.job_id, error = %e, "could not give a job back");
                }
                return;
            }
        };
        match self.read(reader, claim, front, back).await {
            Ok(_) | Err(DeskError::Unreadable(_)) => {}
            Err(e) => tracing::error!(job = %id, error = %e, "queued job failed"),
        }
    }

    /// Gives back the jobs this node is still reading (a shutdown whose deadline passed).
    pub async fn release_running(&self) -> usize {
        let claims = self.running.all();
        for claim in &claims {
            if let Err(e) = self.store.release_claim(claim).await {
                tracing::error!(job = %claim.job_id, error = %e, "could not give a job back");
            }
        }
        claims.len()
    }

    /// The jobs workers pass over (the most recent ones, if there were ever more).
    fn passed_over(&self) -> Vec<String> {
        let mut ids = self.passed_over.lock().unwrap_or_else(|e| e.into_inner());
        let extra = ids.len().saturating_sub(MAX_PASSED_OVER);
        ids.drain(..extra);
        ids.clone()
    }

    /// Jobs this node is reading now.
    pub fn running_jobs(&self) -> usize {
        self.running.all().len()
    }

    /// Deletes scans and full reports older than the retention period.
    pub async fn purge(&self) -> Result<u64> {
        let cutoff =
            chrono::Utc::now().timestamp() - i64::from(self.config.retention_days) * 86_400;
        self.store.purge_scans_before(cutoff).await
    }
}

/// What the clerk reads on a job that kept interrupting its readers.
pub const GAVE_UP: &str = "识别多次中断（服务在识别时停止），已停止重试；请重新上传或人工核验。";

/// The background readers of queued jobs: each claims the oldest job nobody holds (queued by
/// a batch on any node, or left by a node that stopped or died), reads it, and looks again;
/// with nothing to do it waits for a batch on this node or polls for other nodes' work. They
/// stop claiming when `stop` turns true and end when their job is done.
pub fn spawn_workers(
    desk: Arc<Desk>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let Some(reader) = desk.reader.clone() else {
        return Vec::new();
    };
    (0..desk.config.workers.max(1))
        .map(|_| tokio::spawn(work(desk.clone(), reader.clone(), stop.clone())))
        .collect()
}

/// How often an idle worker looks for jobs queued on other nodes or given up by them.
const POLL: std::time::Duration = std::time::Duration::from_secs(1);

async fn work(
    desk: Arc<Desk>,
    reader: Arc<dyn DocumentReader>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        let skip = desk.passed_over();
        match desk
            .store
            .claim_next_job(&desk.node, desk.lease_ms(), &skip)
            .await
        {
            Ok(Some(claim)) => {
                if claim.attempts > 1 {
                    tracing::info!(job = %claim.job_id, attempt = claim.attempts, "taking up a job another reader left");
                }
                desk.take_up(&reader, claim).await;
                continue;
            }
            // Another node won the race for the same job: look again at once.
            Ok(None) if desk.store.claimable_jobs().await.unwrap_or(0) > skip.len() as i64 => {
                let pause = 5 + u64::from(uuid::Uuid::new_v4().as_bytes()[0] % 30);
                tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "claiming a job failed"),
        }
        tokio::select! {
            _ = desk.wake.notified() => {}
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Purges expired scans now and every `every`, until aborted; with several nodes on one
/// database only one purges at a time.
pub fn spawn_purge(desk: Arc<Desk>, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let purged = desk
                .store
                .exclusively("scan purge", || async {
                    let n = desk.purge().await?;
                    desk.store.purge_sessions().await?;
                    Ok(n)
                })
                .await;
            match purged {
                Ok(Some(n)) if n > 0 => {
                    tracing::info!(jobs = n, "deleted scans past their retention")
                }
                Ok(Some(_)) => {}
                Ok(None) => tracing::debug!("another node is purging"),
                Err(e) => tracing::error!(error = %e, "scan purge failed"),
            }
        }
    })
}

/// Unique name of this process among the nodes sharing a database (host, process, random).
fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into());
    let tag = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}:{}:{}", std::process::id(), &tag[..6])
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The claims this node holds, so that a shutdown can give them back.
#[derive(Default)]
struct Running(std::sync::Mutex<std::collections::HashMap<String, Claim>>);

/// Removes its claim from [`Running`] when the read ends, however it ends.
struct Holding<'a> {
    running: &'a Running,
    job: String,
}

impl Running {
    fn hold(&self, claim: &Claim) -> Holding<'_> {
        self.lock().insert(claim.job_id.clone(), claim.clone());
        Holding {
            running: self,
            job: claim.job_id.clone(),
        }
    }
    fn all(&self) -> Vec<Claim> {
        self.lock().values().cloned().collect()
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Claim>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        self.running.lock().remove(&self.job);
    }
}
