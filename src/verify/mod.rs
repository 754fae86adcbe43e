//! Document understanding above OCR: which document a page shows, its fields, the rules they
//! must obey, what about the image makes them doubtful, a verdict for the clerk, and forms
//! pre-filled from the fields.
//!
//! Stages, each its own module with its own tests, glued in [`analyse`]:
//! [`classify`] → [`card`] / [`licence`] (fields cut at labels, via [`field`]) → [`check`]
//! (named rules citing the law or standard) → [`warning`] (image measures) → [`verdict`] →
//! [`prefill`] (mapping files in `forms/`). [`eval`] measures the whole on generated specimens.
//!
//! Invariants: nothing here touches tensors or models (the OCR engine gives an [`OcrPage`]);
//! nothing here does IO except [`prefill::Forms::load`] and [`eval`]; nothing knows about
//! HTTP. Personal values never reach `Debug` output ([`field::FieldValue`], [`Report`]'s
//! `Debug`), and check details and reasons never quote them.

pub mod card;
pub mod check;
pub mod classify;
pub mod correct;
pub mod field;
pub mod field_name;
pub mod grammar;
pub mod licence;
pub mod page;
pub mod prefill;
pub mod recheck;
pub mod verdict;
pub mod warning;

pub use check::CheckResult;
pub use classify::DocumentType;
pub use field::{Field, FieldValue};
pub use field_name::FieldName;
pub use page::{OcrLine, OcrPage, Quad};
pub use prefill::{Forms, MappingError};
pub use verdict::Verdict;
pub use warning::{Thresholds, Warning};

use chrono::NaiveDate;
use image::RgbImage;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// Everything the analysis says about one document (a card's two sides, or a licence), in
/// the API's shape: `{"document_type", "fields": {NAME: {"value", "confidence", "box"}},
/// "checks": [{"rule", "passed", "detail"}], "warnings": [{"code", "detail"}], "verdict",
/// "reasons", "prefill": {FORM: {FIELD: VALUE}}}`, and after a person's corrections
/// `verdict_as_read` and `confirmed`. Stored (sealed) and read back as this same struct; a
/// key missing from an older stored report takes its empty value.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(from = "ReportJson")]
pub struct Report {
    pub document_type: DocumentType,
    /// Keyed by [`FieldName`]'s API spelling.
    #[schema(value_type = BTreeMap<String, field::FieldJson>)]
    pub fields: BTreeMap<String, Field>,
    pub checks: Vec<CheckResult>,
    pub warnings: Vec<Warning>,
    pub verdict: Verdict,
    /// Why, in Chinese, failures first.
    pub reasons: Vec<String>,
    /// Pre-filled forms: form name (`forms/NAME.toml`) → form field → value.
    pub prefill: BTreeMap<String, BTreeMap<String, String>>,
    /// Where each image's boxes lie in the uploaded photo (set by [`Verifier::verify`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub frames: Vec<Frame>,
    /// The reading's verdict, once a person's correction ran the checks again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict_as_read: Option<Verdict>,
    /// The supervisor who confirmed the corrections, until the next correction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed: Option<Confirmed>,
}

/// A supervisor's confirmation of the corrections (four eyes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Confirmed {
    /// The supervisor's user name.
    pub by: String,
    /// When, in Unix seconds.
    pub at: i64,
}

/// A report as JSON holds it: every key optional (older reports lack the later ones), field
/// values without their personal flag.
#[derive(Deserialize)]
struct ReportJson {
    #[serde(default)]
    document_type: DocumentType,
    #[serde(default)]
    fields: BTreeMap<String, Field>,
    #[serde(default)]
    checks: Vec<CheckResult>,
    #[serde(default)]
    warnings: Vec<Warning>,
    #[serde(default)]
    verdict: Verdict,
    #[serde(default)]
    reasons: Vec<String>,
    #[serde(default)]
    prefill: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    frames: Vec<Frame>,
    #[serde(default)]
    verdict_as_read: Option<Verdict>,
    #[serde(default)]
    confirmed: Option<Confirmed>,
}

/// Each field's personal flag from its name and document, as the extractors set it; a name
/// no document has stays personal.
impl From<ReportJson> for Report {
    fn from(r: ReportJson) -> Report {
        let fields = r
            .fields
            .into_iter()
            .map(|(name, mut f)| {
                let personal =
                    FieldName::parse(&name).is_none_or(|n| n.personal_on(r.document_type));
                f.value = f.value.with_personal(personal);
                (name, f)
            })
            .collect();
        Report {
            document_type: r.document_type,
            fields,
            checks: r.checks,
            warnings: r.warnings,
            verdict: r.verdict,
            reasons: r.reasons,
            prefill: r.prefill,
            frames: r.frames,
            verdict_as_read: r.verdict_as_read,
            confirmed: r.confirmed,
        }
    }
}

/// Shows field values only as `FieldValue`'s `Debug` does, and pre-filled forms only by the
/// names of their fields: a report in a log never carries personal data.
impl fmt::Debug for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefill: BTreeMap<&String, Vec<&String>> = self
            .prefill
            .iter()
            .map(|(form, fields)| (form, fields.keys().collect()))
            .collect();
        f.debug_struct("Report")
            .field("document_type", &self.document_type)
            .field("fields", &self.fields)
            .field("checks", &self.checks)
            .field("warnings", &self.warnings)
            .field("verdict", &self.verdict)
            .field("reasons", &self.reasons)
            .field("prefill (field names only)", &prefill)
            .finish()
    }
}

/// One image and what the OCR read on it. Without the image, no image warnings are raised.
#[derive(Clone, Copy)]
pub struct Side<'a> {
    pub page: &'a OcrPage,
    /// The image the page's coordinates refer to.
    pub image: Option<&'a RgbImage>,
    /// Where the document was found in the original photo, when it was.
    pub document: Option<Located>,
}

impl Side<'_> {
    /// The image measures and the size the border gap refers to. A located document is cut
    /// off when its quadrilateral reaches the photo's border (the finder clamps it there); the
    /// straightened image's own border says nothing. `None` without an image.
    pub fn measures(&self) -> Option<(warning::Measures, (u32, u32))> {
        let img = self.image?;
        let mut m = warning::measure(img, self.page);
        let mut size = img.dimensions();
        if let Some(doc) = self.document {
            m.border_gap = warning::border_gap(&doc.quad, doc.photo);
            size = doc.photo;
        }
        Some((m, size))
    }
}

/// A document's quadrilateral in the original photo, and the photo's size: a document
/// touching the photo's border was cut off when it was taken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Located {
    pub quad: Quad,
    pub photo: (u32, u32),
}

/// One image read: the (straightened, upright) image the page refers to, the page, and where
/// the document was in the photo.
#[derive(Debug, Clone)]
pub struct Reading {
    pub image: RgbImage,
    pub page: OcrPage,
    pub document: Option<Located>,
    /// How far the straightened image was turned clockwise to read upright (0, 90, 180, 270).
    pub turned: u16,
}

/// How the boxes of one image relate to the uploaded photo: they are in the pixels of the
/// straightened, upright page (`width` × `height`), whose corners (top-left, top-right,
/// bottom-right, bottom-left) lie at `corners` in the photo (`photo` = its size after EXIF
/// orientation). The clerk page draws the boxes over the photo through this.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Frame {
    pub image: Image,
    pub document_type: DocumentType,
    pub width: u32,
    pub height: u32,
    /// The photo's width and height.
    #[schema(value_type = Vec<u32>, min_items = 2, max_items = 2)]
    pub photo: [u32; 2],
    /// The page's corners in the photo: top-left, top-right, bottom-right, bottom-left.
    #[schema(value_type = Vec<Vec<f32>>, min_items = 4, max_items = 4)]
    pub corners: Quad,
}

/// Which uploaded image: `front` (the upload's `image`) or `back` (`image_back`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Image {
    Front,
    Back,
}

impl Reading {
    /// A reading made before (`eval-docs --save-readings`) read back: the page as the OCR gave
    /// it, without its image (an empty one), so no image warnings are measured.
    pub fn replayed(page: OcrPage, turned: u16) -> Reading {
        Reading {
            image: RgbImage::new(0, 0),
            page,
            document: None,
            turned,
        }
    }

    /// Where this reading's page lies in the photo `photo` (its size) it was read from.
    pub fn frame(&self, image: Image, photo: (u32, u32)) -> Frame {
        let (w, h) = (photo.0 as f32, photo.1 as f32);
        let straight = self
            .document
            .map_or([[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]], |d| d.quad);
        // Turning clockwise by k quarters brings the straightened corner i + 3k to place i.
        let k = usize::from(self.turned / 90);
        Frame {
            image,
            document_type: classify::classify(&self.page),
            width: self.page.width,
            height: self.page.height,
            photo: [photo.0, photo.1],
            corners: std::array::from_fn(|i| straight[(i + 3 * k) % 4]),
        }
    }

    /// The reading as the analysis takes it (an empty image is none: a replayed reading).
    pub fn side(&self) -> Side<'_> {
        Side {
            page: &self.page,
            image: (self.image.width() > 0).then_some(&self.image),
            document: self.document,
        }
    }
}

/// The tunable parts of the analysis.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Settings {
    pub thresholds: Thresholds,
    pub min_confidence: f32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            thresholds: Thresholds::default(),
            min_confidence: verdict::MIN_CONFIDENCE,
        }
    }
}

/// The warning on a card back uploaded without its front.
pub const FRONT_MISSING: &str = "front_missing";

/// The fields a document of this kind should show.
fn expected_fields(t: DocumentType, fields: &BTreeMap<String, Field>) -> Vec<&'static str> {
    match t {
        DocumentType::IdCardFront => card::FRONT_FIELDS.to_vec(),
        DocumentType::IdCardBack => card::BACK_FIELDS.to_vec(),
        DocumentType::BusinessLicense => {
            // 个体工商户 licences print no 注册资本 (DOMAIN.md "The business licence").
            let individual = fields
                .get("type")
                .is_some_and(|f| f.value.expose().contains("个体工商户"))
                || fields
                    .get("credit_code")
                    .is_some_and(|f| f.value.expose().starts_with("92"));
            // The 2019 template prints the registration authority only inside its round seal:
            // read when the seal's text comes through, never required.
            licence::LICENCE_FIELDS
                .iter()
                .copied()
                .filter(|f| *f != "registration_authority")
                .filter(|f| !(individual && licence::NOT_FOR_INDIVIDUAL_BUSINESS.contains(f)))
                .collect()
        }
        DocumentType::Unknown => Vec::new(),
    }
}

fn extract(t: DocumentType, page: &OcrPage) -> BTreeMap<String, Field> {
    match t {
        DocumentType::IdCardFront => card::extract_front(page),
        DocumentType::IdCardBack => card::extract_back(page),
        DocumentType::BusinessLicense => licence::extract(page),
        DocumentType::Unknown => BTreeMap::new(),
    }
}

/// Analyses one document: a card's front with its back (either order), a card side alone, or
/// a licence. `today` decides what is expired or in the future.
pub fn analyse(
    first: Side<'_>,
    second: Option<Side<'_>>,
    today: NaiveDate,
    forms: &Forms,
    settings: &Settings,
) -> Report {
    let mut sides: Vec<(DocumentType, Side<'_>)> = std::iter::once(first)
        .chain(second)
        .map(|s| (classify::classify(s.page), s))
        .collect();
    // A back uploaded first and a front second: read them the right way round.
    if sides.len() == 2
        && sides[0].0 == DocumentType::IdCardBack
        && sides[1].0 == DocumentType::IdCardFront
    {
        sides.swap(0, 1);
    }
    let document_type = sides[0].0;
    let mut fields = extract(document_type, sides[0].1.page);
    let correction = correct::correct(document_type, sides[0].1.page, &mut fields, today);
    let mut expected = expected_fields(document_type, &fields);
    let mut extra_warnings = Vec::new();
    let mut present = vec![document_type];
    let mut back_fields = None;
    if let Some((t, s)) = sides.get(1) {
        if document_type == DocumentType::IdCardFront && *t == DocumentType::IdCardBack {
            let b = card::extract_back(s.page);
            fields.extend(b.clone());
            expected.extend(card::BACK_FIELDS);
            present.push(*t);
            back_fields = Some(b);
        } else {
            extra_warnings.push(Warning {
                code: "second_image_not_matching".into(),
                detail: format!(
                    "第二张图像被识别为{}，与第一张（{}）不是同一证件的两面，未使用",
                    t.label(),
                    document_type.label()
                ),
            });
        }
    }

    // 居民身份证法 第五条: the validity term depends on the age at issue, which only the front
    // prints. A back alone never passes: a person must see the front (DOMAIN.md, validity by
    // age).
    if document_type == DocumentType::IdCardBack {
        extra_warnings.push(Warning {
            code: FRONT_MISSING.into(),
            detail:
                "需要同时上传正面：只有国徽面，无法按签发时年龄核对有效期长度（居民身份证法第五条）"
                    .into(),
        });
    }
    let mut checks = match document_type {
        DocumentType::IdCardFront => check::id_card(Some(&fields), back_fields.as_ref(), today),
        DocumentType::IdCardBack => check::id_card(None, Some(&fields), today),
        DocumentType::BusinessLicense => check::licence(&fields, today),
        DocumentType::Unknown => Vec::new(),
    };
    // A corrected number's check character proves nothing any more: a person must look.
    if let Some(c) = correction
        && let Some(check) = checks.iter_mut().find(|k| k.rule == c.rule())
    {
        check.passed = false;
        check.misread_possible = true;
        check.detail = c.detail();
    }
    check::doubt_unsure_reads(document_type, &mut checks, &fields, settings.min_confidence);

    let mut warnings = Vec::new();
    let mut not_checked = Vec::new();
    for (i, (_, s)) in sides.iter().enumerate() {
        let Some((m, size)) = s.measures() else {
            continue;
        };
        for w in warning::warnings(&m, &settings.thresholds, size) {
            if !w.is_finding() {
                if !not_checked.contains(&w) {
                    not_checked.push(w);
                }
            } else if i == 0 || sides.len() == 1 {
                warnings.push(w);
            } else {
                warnings.push(Warning {
                    code: w.code,
                    detail: format!("第二张图像：{}", w.detail),
                });
            }
        }
    }
    warnings.extend(extra_warnings);
    warnings.extend(not_checked);

    let (verdict, reasons) = verdict::decide(
        document_type,
        &fields,
        &expected,
        &checks,
        &warnings,
        settings.min_confidence,
    );
    let prefill = forms.fill(&present, &fields);
    Report {
        document_type,
        fields,
        checks,
        warnings,
        verdict,
        reasons,
        prefill,
        frames: Vec::new(),
        verdict_as_read: None,
        confirmed: None,
    }
}

/// Counts another reading's time in `page`'s.
fn add_timings(page: &mut OcrPage, other: crate::ocr::OcrTimings) {
    page.timings.detect_ms += other.detect_ms;
    page.timings.classify_ms += other.classify_ms;
    page.timings.recognise_ms += other.recognise_ms;
    page.timings.total_ms += other.total_ms;
}

/// Why a document could not be verified. The `Display` text is for the clerk.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// An upload was refused by intake (empty, not an image, too large, …).
    #[error("{side}：{source}")]
    Intake {
        side: &'static str,
        source: crate::photo::IntakeError,
    },
    /// The OCR engine failed.
    #[error("{side}识别失败：{detail}")]
    Ocr { side: &'static str, detail: String },
}

/// The facade the HTTP API calls: upload bytes in, a [`Report`] out. Intake (`photo::intake`:
/// format by content, limits before decoding) → straightening (`photo::straighten`) → OCR
/// (`OcrEngine::read_upright`) → [`analyse`].
pub struct Verifier {
    pub ocr: crate::ocr::OcrEngine,
    pub forms: Forms,
    pub settings: Settings,
    pub limits: crate::photo::IntakeLimits,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("forms", &self.forms.forms.len())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier with the default settings and intake limits.
    pub fn new(ocr: crate::ocr::OcrEngine, forms: Forms) -> Verifier {
        Verifier {
            ocr,
            forms,
            settings: Settings::default(),
            limits: crate::photo::IntakeLimits::default(),
        }
    }

    /// Straightens a photo and reads it upright.
    pub fn read(&self, photo: &RgbImage) -> anyhow::Result<Reading> {
        self.read_straightened(crate::photo::straighten(photo), photo.dimensions())
    }

    /// Reads a straightened page upright; `photo` is the size of the photo it came from.
    fn read_straightened(
        &self,
        straight: crate::photo::Straightened,
        photo: (u32, u32),
    ) -> anyhow::Result<Reading> {
        let (image, page, turned) = self.read_page(straight.image)?;
        let cut_out = Reading {
            image,
            page,
            document: straight.found.map(|f| Located {
                quad: f.quad,
                photo,
            }),
            turned,
        };
        // What the finder cut out shows no document's labels: it may have taken a part for the
        // whole (a card's portrait box). The whole photo is read instead and kept when it
        // shows a document; the time of both readings is counted.
        let Some(whole) = straight
            .whole
            .filter(|_| classify::classify(&cut_out.page) == DocumentType::Unknown)
        else {
            return Ok(cut_out);
        };
        let (image, page, turned) = self.read_page(whole)?;
        let (mut kept, other) = if classify::classify(&page) == DocumentType::Unknown {
            (cut_out, page.timings)
        } else {
            let t = cut_out.page.timings;
            let whole = Reading {
                image,
                page,
                document: None,
                turned,
            };
            (whole, t)
        };
        add_timings(&mut kept.page, other);
        Ok(kept)
    }

    /// Reads a page upright with its red and violet-blue ink set aside (`photo::ink`: seal,
    /// 样本, a stamped or written 仅供…使用, emblem, border; a card's greener blue labels
    /// kept) and a screen's lattice smoothed away (`warning::without_screen_lattice`), then
    /// looks again if needed: a page showing no document with only its red ink set aside, a
    /// card front lacking a short value (`second_look`), a licence with blue ink across it (a
    /// 仅供…使用 stamp or writing; a licence prints nothing in blue, a card its labels) read
    /// again without it and without the blend of it and paper along its strokes, every time
    /// counted. Whether a licence has blue ink is asked of the page as it came: once its violet
    /// went, a navy pen's writing left too few blue pixels to count, only the blend that hid
    /// the 住所 line under it. The second reading is kept unless a field the first read
    /// without doubt is lost or doubtful in it ([`sound_fields`]). Gives the page as it came
    /// turned upright — ink kept, for the image measures — the reading and the turn.
    fn read_page(&self, image: RgbImage) -> anyhow::Result<(RgbImage, OcrPage, u16)> {
        let smoothed = warning::without_screen_lattice(&image);
        let source = smoothed.as_ref().unwrap_or(&image);
        let mut up = self
            .ocr
            .read_upright(crate::photo::without_overprint_ink(source))?;
        // A screen's violet cast makes a card's blue labels look like a pen's ink, and they
        // went with it: a page on which no document was found is read again with only its red
        // ink set aside, and that reading kept when it finds one.
        if classify::classify(&up.page) == DocumentType::Unknown {
            let mut again = self
                .ocr
                .read_upright(crate::photo::without_warm_ink(source))?;
            if classify::classify(&again.page) == DocumentType::Unknown {
                add_timings(&mut up.page, again.page.timings);
            } else {
                add_timings(&mut again.page, up.page.timings);
                up = again;
            }
        }
        let page = self.second_look(&up.image, up.page)?;
        let mut page = self.address_again(&up.image, page)?;
        if classify::classify(&page) == DocumentType::BusinessLicense
            && crate::photo::has_cool_ink(source)
        {
            let again = self
                .ocr
                .read_turned(&crate::photo::without_cool_ink(&up.image))?;
            page = sounder(page, again, false);
        }
        let mut page = self.scope_end_again(&up.image, page)?;
        // A licence missing a field or reading one in doubt is read again with its mid-greys
        // set to paper (a black-and-white copy's grey 样本 or stamp across a line lost it), its
        // scope's 。 looked for the same way, and that reading kept only when it reads soundly
        // every field the first did and more (on the seen seed 7160's 304 licences with writing
        // or a stamp: fields 2226 → 2260 of 2776).
        if classify::classify(&page) == DocumentType::BusinessLicense && licence_in_doubt(&page) {
            let grey = crate::photo::without_grey(&up.image);
            let again = self.ocr.read_turned(&grey)?;
            let again = self.scope_end_again(&grey, again)?;
            page = sounder(page, again, true);
        }
        let image = match up.turned {
            90 => image::imageops::rotate90(&image),
            180 => image::imageops::rotate180(&image),
            270 => image::imageops::rotate270(&image),
            _ => image,
        };
        Ok((image, page, up.turned))
    }

    /// A licence's 经营范围 ends with 。 (the catalogue's wording), a dot the detector's box
    /// leaves out now and then, on a photocopy's speckled ground most (on the seen seed 7160,
    /// 31 of the 35 scopes read whole but for it were photocopies). Without it the scope
    /// looks cut short and goes to review. The scope's last line is recognised again with its
    /// box reaching [`SCOPE_END_REACH`] of its height further right, as it is and with its
    /// levels stretched (`photo::stretched`: on a washed-out copy the 。 is a faint ring), and
    /// the line given its 。 when either reading finds a closing mark after the same text
    /// ([`scope_end_in`]; on the seen seed 7160's 114 photocopied licences, 6 more scopes read
    /// whole, 1 fewer); the time is counted.
    fn scope_end_again(&self, image: &RgbImage, mut page: OcrPage) -> anyhow::Result<OcrPage> {
        if classify::classify(&page) != DocumentType::BusinessLicense {
            return Ok(page);
        }
        let fields = licence::extract(&page);
        let Some(scope) = fields.get("business_scope") else {
            return Ok(page);
        };
        let value = scope.value.expose();
        if value.ends_with('。') {
            return Ok(page);
        }
        let tail: String = value
            .chars()
            .skip(value.chars().count().saturating_sub(2))
            .collect();
        let (top, bottom) = (scope.quad[0][1], scope.quad[2][1]);
        let middle = |q: &Quad| (q[0][1] + q[2][1]) / 2.0;
        let Some(last) = page
            .lines
            .iter()
            .enumerate()
            .filter(|(_, l)| {
                (top..=bottom).contains(&middle(&l.quad))
                    && field::clean_text(&l.text).ends_with(&tail)
            })
            .max_by(|(_, a), (_, b)| middle(&a.quad).total_cmp(&middle(&b.quad)))
            .map(|(i, _)| i)
        else {
            return Ok(page);
        };
        let started = std::time::Instant::now();
        let line = &page.lines[last];
        let mut quad = line.quad;
        let reach = SCOPE_END_REACH * (quad[3][1] - quad[0][1]).abs();
        let right = image.width() as f32 - 1.0;
        for p in [1, 2] {
            quad[p][0] = (quad[p][0] + reach).min(right);
        }
        let crop = crate::ocr::recognise::crop(image, &quad);
        let stretched = crate::ocr::recognise::Crop {
            image: crate::photo::stretched(&crop.image),
        };
        let found = self
            .ocr
            .recognise(&[crop, stretched])?
            .into_iter()
            .find_map(|d| scope_end_in(&line.text, &d.text).then_some(d));
        if let Some(d) = found {
            let line = &mut page.lines[last];
            line.text.push('。');
            line.char_confidences
                .push(d.confidences.last().copied().unwrap_or(0.0));
            if !line.alternatives.is_empty() {
                line.alternatives
                    .push(d.alternatives.last().cloned().unwrap_or_default());
            }
            line.confidence =
                line.char_confidences.iter().sum::<f32>() / line.char_confidences.len() as f32;
            line.quad = quad;
        }
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        page.timings.recognise_ms += ms;
        page.timings.total_ms += ms;
        Ok(page)
    }

    /// A card front on which the sex or the ethnicity was not found is read again with the
    /// page enlarged (`ocr::detect::SECOND_LOOK_MIN_SIDE`): at a card page's size the detector
    /// may find no box for a lone one-character value (男, 白). The second reading is taken
    /// only when it finds every front field the first did and more; the time of both is
    /// counted. Other pages are read once.
    fn second_look(&self, image: &RgbImage, first: OcrPage) -> anyhow::Result<OcrPage> {
        if !needs_second_look(&first) {
            return Ok(first);
        }
        let second = self
            .ocr
            .read_enlarged(image, crate::ocr::detect::SECOND_LOOK_MIN_SIDE)?;
        let (mut page, other) = if second_is_better(&first, &second) {
            (second, first.timings)
        } else {
            (first, second.timings)
        };
        add_timings(&mut page, other);
        Ok(page)
    }

    /// A card front whose address does not read as one (missing, not beginning with an
    /// administrative division, or holding overprint text: a stamp or handwriting across it
    /// taken into one box with its first lines) has its address lines read again band by band
    /// where the layout puts them ([`card::address_bands`]), from the page with its blue ink
    /// set aside too (the address is printed in black; the card's blue labels lie outside the
    /// bands), then from it with its lighter greys set to paper ([`ADDRESS_GREY_LEVELS`]).
    /// The first new reading whose address reads as one is kept, else the page as it was; the
    /// time is counted either way.
    fn address_again(&self, image: &RgbImage, page: OcrPage) -> anyhow::Result<OcrPage> {
        if !address_doubtful(&page) {
            return Ok(page);
        }
        let Some(bands) = card::address_bands(&page) else {
            return Ok(page);
        };
        let started = std::time::Instant::now();
        let inkless = crate::photo::without_cool_ink(image);
        let mut kept = None;
        for level in ADDRESS_GREY_LEVELS {
            let greyless;
            let source = match level {
                Some(level) => {
                    greyless = crate::photo::without_grey_above(&inkless, level);
                    &greyless
                }
                None => &inkless,
            };
            let crops: Vec<_> = bands
                .rows
                .iter()
                .map(|q| crate::ocr::recognise::crop(source, q))
                .collect();
            let rows = bands
                .rows
                .iter()
                .zip(self.ocr.recognise(&crops)?)
                .map(|(quad, d)| OcrLine {
                    confidence: d.confidences.iter().sum::<f32>()
                        / d.confidences.len().max(1) as f32,
                    text: d.text,
                    char_confidences: d.confidences,
                    alternatives: d.alternatives,
                    quad: *quad,
                })
                .collect();
            let again = card::with_address_rows(&page, &bands, rows);
            if !address_doubtful(&again) {
                kept = Some(again);
                break;
            }
        }
        let mut kept = kept.unwrap_or(page);
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        kept.timings.recognise_ms += ms;
        kept.timings.total_ms += ms;
        Ok(kept)
    }

    /// Reads one upload; `image` names it in the frame (`front` or `back`).
    fn read_bytes(
        &self,
        bytes: &[u8],
        side: &'static str,
        image: Image,
    ) -> Result<(Reading, Frame), VerifyError> {
        let scan = crate::photo::intake(bytes, &self.limits)
            .map_err(|source| VerifyError::Intake { side, source })?;
        let photo = scan.image().dimensions();
        let straight = crate::photo::straighten(scan.image());
        // The decoded photo (up to 40 megapixels, 120 MB) is not needed past straightening.
        drop(scan);
        let reading = self
            .read_straightened(straight, photo)
            .map_err(|e| VerifyError::Ocr {
                side,
                detail: e.to_string(),
            })?;
        let frame = reading.frame(image, photo);
        Ok((reading, frame))
    }

    /// Verifies a card's front (and back, in either order) or a licence, as of `today`.
    pub fn verify(
        &self,
        front: &[u8],
        back: Option<&[u8]>,
        today: NaiveDate,
    ) -> Result<Report, VerifyError> {
        let (first, f1) = self.read_bytes(front, "第一张图像", Image::Front)?;
        let second = back
            .map(|b| self.read_bytes(b, "第二张图像", Image::Back))
            .transpose()?;
        let mut report = analyse(
            first.side(),
            second.as_ref().map(|(r, _)| r.side()),
            today,
            &self.forms,
            &self.settings,
        );
        report.frames = std::iter::once(f1)
            .chain(second.as_ref().map(|(_, f)| *f))
            .collect();
        Ok(report)
    }
}

/// The front fields found on `page`, if it is a card's front.
fn front_fields_found(page: &OcrPage) -> Option<Vec<&'static str>> {
    if classify::classify(page) != DocumentType::IdCardFront {
        return None;
    }
    let f = card::extract_front(page);
    Some(
        card::FRONT_FIELDS
            .into_iter()
            .filter(|n| f.contains_key(*n))
            .collect(),
    )
}

/// A card front whose address is missing or breaks its grammar ([`grammar::doubt`]).
fn address_doubtful(page: &OcrPage) -> bool {
    classify::classify(page) == DocumentType::IdCardFront
        && card::extract_front(page).get("address").is_none_or(|f| {
            grammar::doubt(DocumentType::IdCardFront, "address", f.value.expose()).is_some()
        })
}

/// The fields a licence page should show ([`expected_fields`]) found and read without doubt
/// (`grammar::doubt`). Not the registration authority: read only when the seal's text comes
/// through, a stray character of the seal counted as one more sound field.
fn sound_fields(page: &OcrPage) -> Vec<String> {
    let fields = licence::extract(page);
    let expected = expected_fields(DocumentType::BusinessLicense, &fields);
    fields
        .into_iter()
        .filter(|(name, f)| {
            expected.contains(&name.as_str())
                && grammar::doubt(DocumentType::BusinessLicense, name, f.value.expose()).is_none()
        })
        .map(|(name, _)| name)
        .collect()
}

/// Of a licence's reading and another, `again` when it reads soundly every field `first` did
/// ([`sound_fields`]) — and more, when `more` — else `first`; the time of both counted.
fn sounder(mut first: OcrPage, mut again: OcrPage, more: bool) -> OcrPage {
    let (before, after) = (sound_fields(&first), sound_fields(&again));
    if (!more || after.len() > before.len()) && before.iter().all(|n| after.contains(n)) {
        add_timings(&mut again, first.timings);
        again
    } else {
        add_timings(&mut first, again.timings);
        first
    }
}

/// Whether a licence page lacks a field it should show or reads one in doubt.
fn licence_in_doubt(page: &OcrPage) -> bool {
    let expected = expected_fields(DocumentType::BusinessLicense, &licence::extract(page));
    sound_fields(page).len() < expected.len()
}

/// Whether `again`, the scope's last line read again reaching further right, is `line` with
/// the scope's closing 。 after it: the same text as printed (`field::clean_text`) but for the
/// items' separators (；, read as ， or ： either time), then one mark where the first reading
/// ended. The mark is read as
/// 。, ．, . or ， as often as 。 on a faint copy; a scope's list never ends in a separator,
/// so any of them there is its full stop.
fn scope_end_in(line: &str, again: &str) -> bool {
    // Either reading may print a bracket or separator in ASCII (活动) and 活动）).
    let (line, again) = (field::clean_text(line), field::clean_text(again));
    let Some(rest) = again.strip_suffix(['。', '．', '.', '，', ',', '；']) else {
        return false;
    };
    let separator = |c: char| matches!(c, '；' | ';' | '，' | ',' | '：' | ':');
    rest.chars().count() == line.chars().count()
        && rest
            .chars()
            .zip(line.chars())
            .all(|(a, b)| a == b || (separator(a) && separator(b)))
}

/// How far right of the scope's last line, in line heights, its 。 is looked for: a full-width
/// dot takes a character's width, about one line height, of which the detector's box has
/// often taken some.
const SCOPE_END_REACH: f32 = 0.8;

/// The sources a card's address bands are read again from, in turn until the address reads
/// as one: the page without its blue ink, then with its greys above each level (a share of the
/// way from ink to paper) set to paper too. On a black-and-white copy a stamp's or the
/// 样本's grey stays after the page's own step (`photo::without_grey` at 0.65) and reads as
/// 用，他 in the line; set to paper from lower levels it goes, though the print thins (on the
/// seen seed 7160's 32 photocopied card fronts with 样本 or a stamp whose address was read
/// wrong: 0.5 → 4 read right, 0.4 → 5, 0.3 → 8, 0.2 → 6).
const ADDRESS_GREY_LEVELS: [Option<f32>; 4] = [None, Some(0.5), Some(0.3), Some(0.2)];

/// A card front without its sex or its ethnicity ([`Verifier`]'s second look).
fn needs_second_look(page: &OcrPage) -> bool {
    front_fields_found(page).is_some_and(|f| !(f.contains(&"sex") && f.contains(&"ethnicity")))
}

/// The second reading still a card front with every field the first found, and more.
fn second_is_better(first: &OcrPage, second: &OcrPage) -> bool {
    match (front_fields_found(first), front_fields_found(second)) {
        (Some(before), Some(after)) => {
            after.len() > before.len() && before.iter().all(|n| after.contains(n))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::page::{line_at, page_of};
    use super::*;

    /// A side read from `page` alone, without its image or a located document.
    fn side(page: &OcrPage) -> Side<'_> {
        Side {
            page,
            image: None,
            document: None,
        }
    }
    use crate::ident::id_check_character;
    use std::path::Path;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
    }

    #[test]
    fn a_licence_reading_s_sound_fields_are_those_read_without_doubt() {
        // Of two readings of a licence the second is kept unless it loses a field the first
        // read soundly: a name with the end of a written 仅供…使用 in it is not sound, nor a
        // field the licence need not show.
        let page = page_of(
            1400,
            990,
            vec![
                line_at("营业执照", 0.99, 560.0, 60.0, 96.0, 26.0),
                line_at("统一社会信用代码", 0.99, 120.0, 200.0, 192.0, 26.0),
                line_at("91350100M000100Y43", 0.99, 330.0, 200.0, 432.0, 26.0),
                line_at(
                    "名称示例市小石头餐饮有限公司",
                    0.98,
                    120.0,
                    290.0,
                    336.0,
                    26.0,
                ),
                line_at(
                    "法定代表人王大明供办理税务登",
                    0.97,
                    120.0,
                    410.0,
                    336.0,
                    26.0,
                ),
                line_at("登记机关专", 0.97, 560.0, 800.0, 120.0, 26.0),
            ],
        );
        assert!(licence::extract(&page).contains_key("registration_authority"));
        let sound = sound_fields(&page);
        // The authority is printed only in the seal: a stray character of it is no field.
        assert!(
            !sound.contains(&"registration_authority".to_owned()),
            "{sound:?}"
        );
        assert!(sound.contains(&"credit_code".to_owned()), "{sound:?}");
        assert!(sound.contains(&"name".to_owned()), "{sound:?}");
        assert!(
            !sound.contains(&"legal_representative".to_owned()),
            "{sound:?}"
        );
    }

    // Issue 13: a washed-out copy's 。 read again right of the scope's last line; it comes as
    // ， or ． as often, and the separators of the line may be read differently each time.
    #[test]
    fn a_scope_s_closing_mark_is_found_after_its_last_line_only() {
        let line = "食品销售：日用百货销售；烟草制品零售";
        for again in [
            "食品销售：日用百货销售；烟草制品零售。",
            "食品销售；日用百货销售；烟草制品零售。",
            "食品销售，日用百货销售；烟草制品零售．",
            "食品销售：日用百货销售；烟草制品零售，",
        ] {
            assert!(scope_end_in(line, again), "{again}");
        }
        for again in [
            "食品销售：日用百货销售；烟草制品零售",
            "食品销售：日用百货销售；烟草制品零售售。",
            "食品销售：日用百货销售；烟草制品零。",
            "食品销售、日用百货销售；烟草制品零售。",
            "食品销售：日用百货销售；烟草制品零售）",
        ] {
            assert!(!scope_end_in(line, again), "{again}");
        }
        // PP-OCRv6 reads a closing bracket in ASCII as often as not, either time.
        assert!(scope_end_in("开展经营活动)", "开展经营活动）。"));
        assert!(scope_end_in("开展经营活动）", "开展经营活动)。"));
    }

    // The second look: only a front missing its sex or ethnicity, and the second reading
    // taken only when it keeps every field and finds more.
    #[test]
    fn second_look_only_when_a_lone_value_is_missing() {
        let number = "11010519900307003";
        let number = format!("{number}{}", id_check_character(number).unwrap());
        let whole = front_page(&number, "男");
        assert!(!needs_second_look(&whole));
        let mut no_sex = whole.clone();
        no_sex.lines[1] = line_at("性别民族汉", 0.97, 60.0, 110.0, 200.0, 24.0);
        assert!(needs_second_look(&no_sex));
        assert!(second_is_better(&no_sex, &whole));
        assert!(!second_is_better(&whole, &no_sex));
        // More found but the name lost: not taken.
        let mut no_name = whole.clone();
        no_name.lines.remove(0);
        assert!(!second_is_better(&no_sex, &no_name));
        // Not a card front: read once.
        let other = page_of(
            800,
            600,
            vec![line_at("你好", 0.99, 10.0, 10.0, 50.0, 24.0)],
        );
        assert!(!needs_second_look(&other));
    }

    fn front_page(number: &str, sex: &str) -> OcrPage {
        page_of(
            856,
            540,
            vec![
                line_at("姓名张三丰", 0.98, 60.0, 50.0, 125.0, 24.0),
                line_at(&format!("性别{sex}民族汉"), 0.97, 60.0, 110.0, 200.0, 24.0),
                line_at("出生1990年3月7日", 0.96, 60.0, 170.0, 250.0, 24.0),
                line_at("住址示例市和平区解放路88号", 0.95, 60.0, 230.0, 300.0, 24.0),
                line_at("公民身份号码", 0.99, 60.0, 420.0, 150.0, 24.0),
                line_at(number, 0.99, 260.0, 418.0, 400.0, 30.0),
            ],
        )
    }

    fn back_page(validity: &str) -> OcrPage {
        page_of(
            856,
            540,
            vec![
                line_at("中华人民共和国", 0.99, 250.0, 60.0, 400.0, 40.0),
                line_at("居民身份证", 0.99, 250.0, 120.0, 400.0, 50.0),
                line_at("签发机关示例市公安局", 0.97, 150.0, 380.0, 300.0, 24.0),
                line_at(
                    &format!("有效期限{validity}"),
                    0.96,
                    150.0,
                    440.0,
                    400.0,
                    24.0,
                ),
            ],
        )
    }

    fn number() -> String {
        let body = "11010519900307003";
        format!("{body}{}", id_check_character(body).unwrap())
    }

    fn forms() -> Forms {
        Forms::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("forms")).unwrap()
    }

    // 居民身份证法 第五条 (issued at 26 → 20 years) and GB 11643: both sides, in either order.
    #[test]
    fn card_with_both_sides_passes_and_prefills() {
        let (f, b) = (
            front_page(&number(), "男"),
            back_page("2016.05.01-2036.05.01"),
        );
        let s = Settings::default();
        for (x, y) in [(&f, &b), (&b, &f)] {
            let r = analyse(side(x), Some(side(y)), today(), &forms(), &s);
            assert_eq!(r.document_type, DocumentType::IdCardFront);
            assert_eq!(r.verdict, Verdict::Pass, "{r:?}");
            assert_eq!(r.fields.len(), 9);
            assert!(r.checks.iter().all(|c| c.passed));
            assert!(r.checks.iter().any(|c| c.rule == "id_card.validity_term"));
            assert_eq!(r.prefill["social-security-card"]["出生日期"], "19900307");
            assert_eq!(r.prefill["social-security-card"]["性别"], "1-男");
            assert_eq!(
                r.prefill["individual-business-registration"]["经营者姓名"],
                "张三丰"
            );
            assert!(!r.prefill["individual-business-registration"].contains_key("经营场所"));
            assert!(r.warnings.iter().all(|w| w.code == "not_checked"));
        }
    }

    // DOMAIN.md, "Validity by age when issued (居民身份证法, Art. 5)": the legal term depends on
    // the age at issue, printed only on the front. A back alone whose term is legal for some
    // age (here 10 years: right at 16–25, wrong at 30) cannot pass: review, 需要同时上传正面.
    #[test]
    fn a_back_without_its_front_goes_to_review_asking_for_the_front() {
        let b = back_page("2020.05.01-2030.05.01");
        let alone = |page: &OcrPage| {
            analyse(
                Side {
                    page,
                    image: None,
                    document: None,
                },
                None,
                today(),
                &forms(),
                &Settings::default(),
            )
        };
        let r = alone(&b);
        assert_eq!(r.document_type, DocumentType::IdCardBack);
        assert_eq!(r.verdict, Verdict::Review, "{r:?}");
        assert!(
            r.reasons.iter().any(|x| x.starts_with("需要同时上传正面")),
            "{:?}",
            r.reasons
        );
        assert!(r.warnings.iter().any(|w| w.code == FRONT_MISSING));
        assert!(
            r.checks.iter().all(|c| c.rule != "id_card.validity_term"),
            "the age-dependent check did not run and is not reported as passed: {:?}",
            r.checks
        );
        // With the front of a holder born 1990-03-07 (30 at issue → 20 years), the same back
        // fails: the check ran.
        let f = front_page(&number(), "男");
        let r = analyse(
            side(&f),
            Some(side(&b)),
            today(),
            &forms(),
            &Settings::default(),
        );
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
        assert!(r.warnings.iter().all(|w| w.code != FRONT_MISSING));
        // An illegal length fails on the back alone too.
        let r = alone(&back_page("2020.05.01-2035.05.01"));
        assert_eq!(r.verdict, Verdict::Fail, "{r:?}");
    }

    // The API shape, and no personal value in Debug.
    #[test]
    fn report_serialises_in_the_api_shape_and_debug_hides_values() {
        let f = front_page(&number(), "女");
        let r = analyse(side(&f), None, today(), &forms(), &Settings::default());
        assert_eq!(
            r.verdict,
            Verdict::Fail,
            "sex does not match the number's parity"
        );
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["document_type"], "id_card_front");
        assert_eq!(v["fields"]["name"]["value"], "张三丰");
        assert!(v["fields"]["name"]["confidence"].as_f64().unwrap() > 0.9);
        assert_eq!(v["fields"]["name"]["box"].as_array().unwrap().len(), 4);
        assert!(v["checks"][0]["rule"].is_string() && v["checks"][0]["detail"].is_string());
        assert!(v["warnings"].as_array().is_some());
        assert_eq!(v["verdict"], "fail");
        assert!(v["prefill"]["social-security-card"].is_object());
        let shown = format!("{r:?}");
        for personal in ["张三丰", &number(), "解放路", "19900307"] {
            assert!(!shown.contains(personal), "{personal} in {shown}");
        }
    }

    // Stored and read back as the same struct: personal flags (DOMAIN.md "Personal information
    // and security") come back from each field's name and document.
    #[test]
    fn a_report_reads_back_as_the_same_struct() {
        let (f, b) = (
            front_page(&number(), "男"),
            back_page("2016.05.01-2036.05.01"),
        );
        let side = |p| side(p);
        let mut r = analyse(
            side(&f),
            Some(side(&b)),
            today(),
            &forms(),
            &Settings::default(),
        );
        r.frames = vec![Frame {
            image: Image::Back,
            document_type: DocumentType::IdCardBack,
            width: 856,
            height: 540,
            photo: [1712, 1080],
            corners: [[0.0, 0.0], [1712.0, 0.0], [1712.0, 1080.0], [0.0, 1080.0]],
        }];
        let name = r.fields.get_mut("name").unwrap();
        name.value = name.value.corrected("张三");
        r.verdict_as_read = Some(Verdict::Pass);
        r.confirmed = Some(Confirmed {
            by: "sup".into(),
            at: 1_780_000_000,
        });
        let json = serde_json::to_string(&r).unwrap();
        let back: Report = serde_json::from_str(&json).unwrap();
        assert!(back == r, "{json}");
        assert!(back.fields["name"].value.is_personal() && back.fields["name"].value.is_edited());
        assert!(!back.fields["issuing_authority"].value.is_personal());
        assert_eq!(serde_json::to_string(&back).unwrap(), json);

        // An older stored report: no frames, no flags, keys missing.
        let old: Report = serde_json::from_value(serde_json::json!({
            "document_type": "business_license",
            "fields": {
                "name": {"value": "示例有限公司", "confidence": 0.9, "box": [[0,0],[1,0],[1,1],[0,1]]},
                "legal_representative": {"value": "李四", "confidence": 0.9, "edited": true}
            },
            "verdict": "review"
        }))
        .unwrap();
        assert!(!old.fields["name"].value.is_personal());
        assert!(old.fields["legal_representative"].value.is_personal());
        assert!(old.fields["legal_representative"].value.is_edited());
        assert_eq!(old.fields["legal_representative"].confidence, 0.9);
        assert!(old.checks.is_empty() && old.frames.is_empty() && old.confirmed.is_none());
    }

    #[test]
    fn unknown_pages_and_mismatched_sides_go_to_review() {
        let p = page_of(
            100,
            100,
            vec![line_at("欢迎光临", 0.9, 0.0, 0.0, 50.0, 10.0)],
        );
        let r = analyse(
            side(&p),
            None,
            today(),
            &Forms::default(),
            &Settings::default(),
        );
        assert_eq!(
            (r.document_type, r.verdict),
            (DocumentType::Unknown, Verdict::Review)
        );
        let f = front_page(&number(), "男");
        let r = analyse(
            side(&f),
            Some(side(&f)),
            today(),
            &Forms::default(),
            &Settings::default(),
        );
        assert_eq!(r.verdict, Verdict::Review);
        assert!(
            r.warnings
                .iter()
                .any(|w| w.code == "second_image_not_matching")
        );
    }
}
