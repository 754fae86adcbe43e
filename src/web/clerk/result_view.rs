//! What the result page shows of a job: its fields (masked unless revealed) with their boxes
//! drawn over the photo, checks, warnings, pre-fill records and corrections.

use super::{
    Chrome, Look, chrome, document_label, page, problem_page, status_label, verdict_label, when,
};
use crate::account::Role;
use crate::desk::JobView;
use crate::photo::geometry;
use crate::store::edits::FieldEdit;
use crate::store::jobs::JobStatus;
use crate::verify::{DocumentType, FieldName, Image, Report, Verdict};
use crate::web::AppState;
use crate::web::auth_api::Denied;
use crate::web::desk::desk_problem;
use crate::web::session::Staff;
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;

/// A field as the page shows it.
struct FieldRow {
    no: usize,
    name: String,
    label: String,
    value: String,
    /// Shown masked: a reveal button instead of an edit box.
    masked: bool,
    confidence: String,
    low: bool,
    edited: bool,
    /// The reason naming this field, when its value broke its form (`verify::grammar`) or
    /// its reading was doubtful: shown beside it.
    doubt: String,
}

struct CheckRow {
    rule: String,
    passed: bool,
    misread: bool,
    detail: String,
}

struct FormRow {
    name: String,
    title: String,
    fields: Vec<(String, String)>,
}

/// One image with the boxes of the fields read on it, in the photo's pixels.
struct Figure {
    side: &'static str,
    caption: &'static str,
    /// The photo's size; 0 when the report says nothing of it (no boxes drawn).
    width: u32,
    height: u32,
    boxes: Vec<BoxMark>,
    /// Line width and label size, in the photo's pixels.
    stroke: String,
    font: String,
}

/// One field's box and its number.
struct BoxMark {
    no: usize,
    points: String,
    x: String,
    y: String,
}

impl Figure {
    fn new(side: &'static str, width: u32, height: u32, boxes: Vec<BoxMark>) -> Figure {
        let long = width.max(height) as f32;
        Figure {
            side,
            caption: if side == "back" {
                "第二张图像（背面）"
            } else {
                "第一张图像"
            },
            width,
            height,
            boxes,
            stroke: format!("{:.1}", (long / 300.0).max(1.0)),
            font: format!("{:.0}", (long / 30.0).max(10.0)),
        }
    }
}

#[derive(Template)]
#[template(path = "clerk_job.html")]
struct JobPage {
    chrome: Chrome,
    id: String,
    owner: String,
    when: String,
    status: &'static str,
    done: bool,
    document: &'static str,
    verdict: Option<&'static str>,
    verdict_class: String,
    /// The reading's verdict, when a correction ran the checks again.
    verdict_as_read: Option<&'static str>,
    /// Who confirmed the corrections, and when.
    confirmed_by: Option<(String, String)>,
    /// This supervisor may confirm the corrections (made by others).
    may_confirm: bool,
    /// How many corrections the page shows (the confirmation covers those).
    edit_count: usize,
    reasons: Vec<String>,
    fields: Vec<FieldRow>,
    checks: Vec<CheckRow>,
    warnings: Vec<String>,
    not_checked: Vec<String>,
    forms: Vec<FormRow>,
    figures: Vec<Figure>,
    /// The scans are shown (after "reveal all").
    scans_shown: bool,
    any_masked: bool,
    purged: bool,
    error: Option<String>,
    job_error: Option<String>,
    notice: Option<String>,
    edits: Vec<(String, String, String)>,
}

/// A field's label on the page of a `doc` (the document's own word for a double label).
pub(super) fn field_label(doc: Option<DocumentType>, name: &str) -> String {
    match FieldName::parse(name) {
        Some(f) => f.label_on(doc.unwrap_or_default()).to_string(),
        None => name.to_string(),
    }
}

/// The images of a report and the boxes on each, mapped from the page the OCR read into the
/// uploaded photo through the report's frames.
fn figures(report: &Report, fields: &[FieldRow], has_back: bool) -> Vec<Figure> {
    let doc = report.document_type;
    let mut out = Vec::new();
    for frame in &report.frames {
        let side = match frame.image {
            Image::Back if has_back => "back",
            Image::Front => "front",
            Image::Back => continue,
        };
        let (w, h) = (frame.width as f32, frame.height as f32);
        let [pw, ph] = frame.photo;
        if w <= 0.0 || h <= 0.0 || pw == 0 || ph == 0 {
            continue;
        }
        let page = [[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]];
        let Some(hom) = geometry::homography(&page, &frame.corners) else {
            continue;
        };
        let mut boxes = Vec::new();
        for f in fields {
            // A card's back fields sit on the back's image; all others on the document's own.
            let on_back = FieldName::parse(&f.name).is_some_and(FieldName::on_card_back)
                && doc == DocumentType::IdCardFront;
            let wanted = if on_back {
                DocumentType::IdCardBack
            } else {
                doc
            };
            if frame.document_type != wanted {
                continue;
            }
            let Some(q) = report.fields.get(&f.name).map(|x| x.quad) else {
                continue;
            };
            if q.iter().all(|p| p[0] == 0.0 && p[1] == 0.0) {
                continue;
            }
            let pts: Vec<[f32; 2]> = q.iter().map(|p| geometry::apply(&hom, *p)).collect();
            let points = pts
                .iter()
                .map(|p| format!("{:.1},{:.1}", p[0], p[1]))
                .collect::<Vec<_>>()
                .join(" ");
            let font = pw.max(ph) as f32 / 30.0;
            boxes.push(BoxMark {
                no: f.no,
                points,
                x: format!("{:.1}", pts[0][0]),
                y: format!("{:.1}", (pts[0][1] - 4.0).max(font)),
            });
        }
        out.push(Figure::new(side, pw, ph, boxes));
    }
    out
}

/// What the page reveals: nothing, one field, or everything (values, pre-fill and scans).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Shown<'a> {
    Masked,
    Field(&'a str),
    All,
}

/// The fields in the order the document prints them (fields no document names last): from
/// the masked report, a revealed one from the full report.
fn field_rows(report: &Report, full: Option<&Report>, shown: Shown<'_>) -> Vec<FieldRow> {
    let doc = Some(report.document_type);
    let threshold = crate::verify::verdict::MIN_CONFIDENCE;
    let mut fields: Vec<_> = report.fields.iter().collect();
    fields.sort_by_key(|(name, _)| FieldName::parse(name).map_or((1, None), |f| (0, Some(f))));
    fields
        .into_iter()
        .enumerate()
        .map(|(i, (name, f))| {
            let reveal = match shown {
                Shown::All => true,
                Shown::Field(n) => n == name,
                Shown::Masked => false,
            };
            // Only a revealed field comes from the full report; the others from the masked
            // one (a one-field reveal brings no other value in full).
            let full_value = full.and_then(|r| r.fields.get(name)).filter(|_| reveal);
            let (value, masked) = match full_value {
                Some(v) => (v.value.expose().to_string(), false),
                None => (f.value.expose().to_string(), f.value.is_personal()),
            };
            let label = field_label(doc, name);
            let quoted = format!("“{label}”");
            let doubt = report
                .reasons
                .iter()
                .find(|r| r.starts_with(&quoted))
                .cloned()
                .unwrap_or_default();
            FieldRow {
                no: i + 1,
                name: name.clone(),
                label,
                value,
                masked,
                confidence: format!("{:.0}%", f.confidence * 100.0),
                low: f.confidence < threshold,
                edited: f.value.is_edited(),
                doubt,
            }
        })
        .collect()
}

fn check_rows(report: &Report) -> Vec<CheckRow> {
    report
        .checks
        .iter()
        .map(|c| CheckRow {
            rule: c.rule.clone(),
            passed: c.passed,
            misread: c.misread_possible,
            detail: c.detail.clone(),
        })
        .collect()
}

/// The pre-fill records: the masked report's, or the full report's when all is shown.
fn form_rows(
    state: &AppState,
    report: &Report,
    full: Option<&Report>,
    shown: Shown<'_>,
) -> Vec<FormRow> {
    let titles: std::collections::BTreeMap<String, String> =
        crate::verify::Forms::load(&state.desk.config.forms_dir)
            .map(|fs| fs.forms.into_iter().map(|f| (f.name, f.title)).collect())
            .unwrap_or_default();
    let source = match (full, shown) {
        (Some(f), Shown::All) => f,
        _ => report,
    };
    source
        .prefill
        .iter()
        .map(|(name, fields)| FormRow {
            name: name.clone(),
            title: titles.get(name).cloned().unwrap_or_else(|| name.clone()),
            fields: fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        })
        .collect()
}

pub(super) struct JobExtras<'a> {
    /// The full report (or with one field in full), after a reveal.
    pub full: Option<&'a Report>,
    pub shown: Shown<'a>,
    pub error: Option<String>,
    pub notice: Option<String>,
}

pub(super) async fn job_view_page(
    state: &AppState,
    look: &Look,
    s: &Staff,
    view: &JobView,
    status: StatusCode,
    x: JobExtras<'_>,
) -> Response {
    let empty = Report::default();
    let report = view.report.as_ref().unwrap_or(&empty);
    let fields = field_rows(report, x.full, x.shown);
    let edits = match state.desk.edits(&s.who, &view.job_id).await {
        Ok(e) => e,
        Err(e) => {
            let Denied(p) = desk_problem(state, e);
            return problem_page(look, Some(s), &p);
        }
    };
    let confirmed_by = report
        .confirmed
        .as_ref()
        .map(|c| (c.by.clone(), when(c.at)));
    let may_confirm = s.who.role == Role::Supervisor
        && !edits.is_empty()
        && confirmed_by.is_none()
        && !edits.iter().any(|e| e.actor == s.who.user)
        && view.verdict != Some(Verdict::Fail);
    let edit_count = edits.len();
    let doc = Some(report.document_type);
    let edits = edits
        .iter()
        .map(|e: &FieldEdit| (when(e.at), e.actor.clone(), field_label(doc, &e.field)))
        .collect();
    let scans_shown = x.shown == Shown::All && !view.purged;
    let mut figs = figures(report, &fields, view.has_back);
    if figs.is_empty() && !view.purged && view.status == JobStatus::Done {
        // No frames (a reader that gives none): the images without boxes.
        figs.push(Figure::new("front", 0, 0, Vec::new()));
        if view.has_back {
            figs.push(Figure::new("back", 0, 0, Vec::new()));
        }
    }
    let (not_checked, warnings): (Vec<_>, Vec<_>) =
        report.warnings.iter().partition(|w| !w.is_finding());
    page(
        &JobPage {
            chrome: chrome(look, Some(s)),
            id: view.job_id.clone(),
            owner: view.owner.clone(),
            when: when(view.created_at),
            status: status_label(view),
            done: view.status == JobStatus::Done,
            document: document_label(view.document_type),
            verdict: view.verdict.map(verdict_label),
            verdict_class: view.verdict.map_or("", Verdict::as_str).to_string(),
            verdict_as_read: report.verdict_as_read.map(verdict_label),
            confirmed_by,
            may_confirm,
            edit_count,
            reasons: report.reasons.clone(),
            any_masked: fields.iter().any(|f| f.masked) || !scans_shown,
            checks: check_rows(report),
            warnings: warnings.into_iter().map(|w| w.detail.clone()).collect(),
            not_checked: not_checked.into_iter().map(|w| w.detail.clone()).collect(),
            forms: form_rows(state, report, x.full, x.shown),
            figures: figs,
            scans_shown,
            fields,
            purged: view.purged,
            error: x.error,
            job_error: view.error.clone(),
            notice: x.notice,
            edits,
        },
        status,
        look,
    )
}
