//! Evaluation of document verification on generated specimens (`xiaoban eval-docs DIR`).
//!
//! `DIR` holds the images and `truth.json` written by `scripts/make_specimens.py`. Each case
//! (a card's front and back, or a licence) is read — by the OCR engine, or with
//! `--truth-lines` from the lines the generator drew (a perfect OCR, to measure the analysis
//! alone) — then analysed, and compared with the truth:
//!
//! - field exact-match accuracy per field, per condition (clean, phone, photocopy, rotate90, …),
//!   per layout (card, card back alone, licence landscape/portrait × company/个体工商户), per
//!   overprint (sample, sample+stamp, sample+handwritten) and per (condition, overprint);
//! - document type accuracy per image;
//! - check accuracy: over every (case, rule) the analysis ran or the truth expects to fail,
//!   whether passed/failed agrees with the truth;
//! - verdict accuracy, overall, per condition and per layout, with the confusion counts, and
//!   the confusion over the invalid documents alone (any "→pass" there should have stopped);
//! - warning precision and recall per code (`not_checked` entries are not findings);
//! - latency per case (read + analyse), p50 and p95;
//! - the image measures per condition (min, median, max), which is how the warning thresholds
//!   were set.

use super::stats::percentile;
use crate::verify::page::{OcrLine, OcrPage, Quad, page_of};
use crate::verify::warning::Measures;
use crate::verify::{Forms, Reading, Settings, Side, Verifier, analyse};
use anyhow::{Context, Result};
use chrono::NaiveDate;
use image::RgbImage;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

/// `truth.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Truth {
    pub today: String,
    pub cases: Vec<Case>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    pub id: String,
    pub document_type: String,
    /// `id_card`, `id_card_back_only`, `licence_landscape_company`, … (older truth files
    /// have none: the document type stands in).
    #[serde(default)]
    pub layout: String,
    pub condition: String,
    /// `sample`, `sample+stamp`, `sample+handwritten` (older truth files have none).
    #[serde(default)]
    pub overprint: String,
    pub variant: String,
    pub images: Vec<TruthImage>,
    pub fields: BTreeMap<String, String>,
    /// Fields whose printed value the image does not show in full (a crop cut it off): the
    /// reading is right when it gives no value for them.
    #[serde(default)]
    pub not_visible: Vec<String>,
    pub failing_checks: Vec<String>,
    pub warnings: Vec<String>,
    pub verdict: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TruthImage {
    pub file: String,
    pub document_type: String,
    pub width: u32,
    pub height: u32,
    /// Degrees clockwise the stored image is turned (a page fed in sideways or upside down);
    /// `lines`, `width` and `height` are those of the image turned upright.
    #[serde(default)]
    pub rotation: u16,
    pub lines: Vec<TruthLine>,
}

/// The stored image turned upright (what a perfect reader reads the truth lines from).
pub fn upright(img: &RgbImage, t: &TruthImage) -> RgbImage {
    match t.rotation {
        90 => image::imageops::rotate270(img),
        180 => image::imageops::rotate180(img),
        270 => image::imageops::rotate90(img),
        _ => img.clone(),
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct TruthLine {
    pub text: String,
    pub quad: Quad,
}

/// The page a perfect OCR would return for an image: the generator's lines, each character at
/// confidence 0.99.
pub fn truth_page(img: &TruthImage) -> OcrPage {
    let lines = img
        .lines
        .iter()
        .map(|l| OcrLine {
            text: l.text.clone(),
            confidence: 0.99,
            char_confidences: vec![0.99; l.text.chars().count()],
            alternatives: Vec::new(),
            quad: l.quad,
        })
        .collect();
    page_of(img.width, img.height, lines)
}

/// One text line another OCR engine read (`eval-docs --lines`).
#[derive(Debug, Clone, Deserialize)]
struct ForeignLine {
    text: String,
    confidence: f32,
    quad: Quad,
}

/// The lines another OCR engine read, per image file: a JSON object `{"lines": {FILE: [{"text",
/// "confidence", "quad"}]}}` (what scripts/rapidocr_peer.py writes). Each character gets its
/// line's confidence, since such engines report one per line.
pub fn read_lines(path: &Path) -> Result<BTreeMap<String, Vec<OcrLine>>> {
    #[derive(Deserialize)]
    struct File {
        lines: BTreeMap<String, Vec<ForeignLine>>,
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("读取 {} 失败", path.display()))?;
    let file: File =
        serde_json::from_str(&text).with_context(|| format!("{} 格式不对", path.display()))?;
    Ok(file
        .lines
        .into_iter()
        .map(|(name, lines)| {
            let lines = lines
                .into_iter()
                .map(|l| OcrLine {
                    char_confidences: vec![l.confidence; l.text.chars().count()],
                    alternatives: Vec::new(),
                    text: l.text,
                    confidence: l.confidence,
                    quad: l.quad,
                })
                .collect();
            (name, lines)
        })
        .collect())
}

/// Correct out of total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Score {
    pub correct: usize,
    pub total: usize,
    pub accuracy: f64,
}

impl Score {
    fn add(&mut self, ok: bool) {
        self.total += 1;
        self.correct += usize::from(ok);
        self.accuracy = self.correct as f64 / self.total as f64;
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Detection {
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    /// 1.0 when nothing was raised.
    pub precision: f64,
    /// 1.0 when nothing was expected.
    pub recall: f64,
}

impl Detection {
    fn finish(&mut self) {
        let (tp, fp, fn_) = (
            self.true_positives as f64,
            self.false_positives as f64,
            self.false_negatives as f64,
        );
        self.precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 1.0 };
        self.recall = if tp + fn_ > 0.0 { tp / (tp + fn_) } else { 1.0 };
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

/// One disagreement, for reading the failures (specimen data is fictional).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Miss {
    pub case: String,
    pub what: String,
    pub expected: String,
    pub got: String,
}

/// Everything `eval-docs` measures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub source: String,
    pub cases: usize,
    pub images: usize,
    pub document_type: Score,
    /// Over every field of every case.
    pub fields_all: Score,
    pub fields: BTreeMap<String, Score>,
    pub fields_by_condition: BTreeMap<String, BTreeMap<String, Score>>,
    pub fields_all_by_condition: BTreeMap<String, Score>,
    pub fields_by_layout: BTreeMap<String, BTreeMap<String, Score>>,
    pub fields_all_by_layout: BTreeMap<String, Score>,
    /// Per overprint (`sample+stamp`, …), over every field.
    pub fields_all_by_overprint: BTreeMap<String, Score>,
    /// Per "condition / overprint", over every field.
    pub fields_all_by_condition_overprint: BTreeMap<String, Score>,
    pub checks: Score,
    pub verdict: Score,
    pub verdict_by_condition: BTreeMap<String, Score>,
    /// "expected→got": count.
    pub verdict_confusion: BTreeMap<String, usize>,
    /// The same over the invalid documents only (variant other than `valid`), where any
    /// "→pass" is a document that should have been stopped.
    pub invalid_verdict_confusion: BTreeMap<String, usize>,
    pub verdict_by_layout: BTreeMap<String, Score>,
    pub warnings: BTreeMap<String, Detection>,
    pub latency: Latency,
    /// Per condition, per measure: [min, median, max] over its images.
    pub measures_by_condition: BTreeMap<String, BTreeMap<String, [f32; 3]>>,
    /// Every image's measures with its condition (`--json` only), to set a threshold from
    /// the cases on either side of it.
    pub image_measures: Vec<ImageMeasures>,
    pub misses: Vec<Miss>,
}

/// One image's measures.
#[derive(Debug, Clone, Serialize)]
pub struct ImageMeasures {
    pub file: String,
    pub condition: String,
    pub measures: Measures,
}

fn measures_row(m: &Measures) -> [(&'static str, f32); 8] {
    [
        ("colour", m.colour),
        ("second_colour", m.second_colour),
        ("screen", m.screen),
        ("luminance", m.luminance),
        ("sharpness", m.sharpness),
        ("glare", m.glare),
        ("border_gap", m.border_gap),
        ("text_height", m.text_height),
    ]
}

/// Runs the evaluation over `dir`. `read` turns an image (and its truth, for `--truth-lines`)
/// into a reading; `source` names it in the summary.
pub fn run(
    dir: &Path,
    source: &str,
    read: &mut dyn FnMut(&RgbImage, &TruthImage) -> Result<Reading>,
    forms: &Forms,
    settings: &Settings,
) -> Result<Summary> {
    let truth_path = dir.join("truth.json");
    let text = std::fs::read_to_string(&truth_path).with_context(|| {
        format!(
            "读取 {} 失败（先运行 scripts/make_specimens.py）",
            truth_path.display()
        )
    })?;
    let truth: Truth = serde_json::from_str(&text)
        .with_context(|| format!("{} 格式不对", truth_path.display()))?;
    let today = NaiveDate::parse_from_str(&truth.today, "%Y-%m-%d").context("truth.json: today")?;

    let mut s = Summary {
        source: source.to_owned(),
        cases: truth.cases.len(),
        ..Default::default()
    };
    let mut latencies = Vec::new();
    let mut measures: BTreeMap<String, BTreeMap<String, Vec<f32>>> = BTreeMap::new();
    for case in &truth.cases {
        let mut loaded = Vec::new();
        for ti in &case.images {
            let path = dir.join(&ti.file);
            let img = image::open(&path)
                .with_context(|| format!("打不开 {}", path.display()))?
                .to_rgb8();
            loaded.push((img, ti));
        }
        let started = Instant::now();
        let mut readings = Vec::new();
        for (img, ti) in &loaded {
            readings.push(read(img, ti).with_context(|| format!("识别 {} 失败", ti.file))?);
        }
        let sides: Vec<Side<'_>> = readings.iter().map(Reading::side).collect();
        let report = analyse(sides[0], sides.get(1).copied(), today, forms, settings);
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
        s.images += loaded.len();

        for (r, (_, ti)) in readings.iter().zip(&loaded) {
            let page = &r.page;
            let got = crate::verify::classify::classify(page);
            s.document_type.add(got.as_str() == ti.document_type);
            if got.as_str() != ti.document_type {
                s.misses.push(Miss {
                    case: case.id.clone(),
                    what: format!("document_type {}", ti.file),
                    expected: ti.document_type.clone(),
                    got: got.as_str().into(),
                });
            }
            let Some((m, _)) = r.side().measures() else {
                continue;
            };
            s.image_measures.push(ImageMeasures {
                file: ti.file.clone(),
                condition: case.condition.clone(),
                measures: m,
            });
            for (k, v) in measures_row(&m) {
                measures
                    .entry(case.condition.clone())
                    .or_default()
                    .entry(k.into())
                    .or_default()
                    .push(v);
            }
        }

        let layout = if case.layout.is_empty() {
            case.document_type.as_str()
        } else {
            case.layout.as_str()
        };
        let expected_fields = case
            .fields
            .iter()
            .map(|(name, value)| (name, Some(value.as_str())))
            .chain(case.not_visible.iter().map(|name| (name, None)));
        for (name, expected) in expected_fields {
            let got = report.fields.get(name).map(|f| f.value.expose());
            let ok = got == expected;
            s.fields.entry(name.clone()).or_default().add(ok);
            s.fields_by_condition
                .entry(case.condition.clone())
                .or_default()
                .entry(name.clone())
                .or_default()
                .add(ok);
            s.fields_all_by_condition
                .entry(case.condition.clone())
                .or_default()
                .add(ok);
            s.fields_by_layout
                .entry(layout.to_owned())
                .or_default()
                .entry(name.clone())
                .or_default()
                .add(ok);
            s.fields_all_by_layout
                .entry(layout.to_owned())
                .or_default()
                .add(ok);
            if !case.overprint.is_empty() {
                s.fields_all_by_overprint
                    .entry(case.overprint.clone())
                    .or_default()
                    .add(ok);
                s.fields_all_by_condition_overprint
                    .entry(format!("{} / {}", case.condition, case.overprint))
                    .or_default()
                    .add(ok);
            }
            s.fields_all.add(ok);
            if !ok {
                s.misses.push(Miss {
                    case: case.id.clone(),
                    what: format!("field {name}"),
                    expected: expected.unwrap_or("<不可见>").to_owned(),
                    got: got.unwrap_or("<未识别>").to_owned(),
                });
            }
        }

        let failing: BTreeSet<&str> = case.failing_checks.iter().map(String::as_str).collect();
        let ran: BTreeMap<&str, bool> = report
            .checks
            .iter()
            .map(|c| (c.rule.as_str(), c.passed))
            .collect();
        let rules: BTreeSet<&str> = ran.keys().copied().chain(failing.iter().copied()).collect();
        for rule in rules {
            let expected_pass = !failing.contains(rule);
            let got = ran.get(rule).copied();
            let ok = got == Some(expected_pass);
            s.checks.add(ok);
            if !ok {
                s.misses.push(Miss {
                    case: case.id.clone(),
                    what: format!("check {rule}"),
                    expected: if expected_pass { "passed" } else { "failed" }.into(),
                    got: match got {
                        Some(true) => "passed",
                        Some(false) => "failed",
                        None => "not run",
                    }
                    .into(),
                });
            }
        }

        let v = report.verdict.as_str();
        s.verdict.add(v == case.verdict);
        s.verdict_by_condition
            .entry(case.condition.clone())
            .or_default()
            .add(v == case.verdict);
        s.verdict_by_layout
            .entry(layout.to_owned())
            .or_default()
            .add(v == case.verdict);
        *s.verdict_confusion
            .entry(format!("{}→{v}", case.verdict))
            .or_default() += 1;
        if case.variant != "valid" {
            *s.invalid_verdict_confusion
                .entry(format!("{}→{v}", case.verdict))
                .or_default() += 1;
        }
        if v != case.verdict {
            s.misses.push(Miss {
                case: case.id.clone(),
                what: format!("verdict ({} / {})", case.condition, case.variant),
                expected: case.verdict.clone(),
                got: format!("{v}: {}", report.reasons.join("；")),
            });
        }

        let raised: BTreeSet<&str> = report
            .warnings
            .iter()
            .filter(|w| w.is_finding())
            .map(|w| w.code.as_str())
            .collect();
        let expected: BTreeSet<&str> = case.warnings.iter().map(String::as_str).collect();
        for code in raised.union(&expected) {
            let d = s.warnings.entry((*code).to_owned()).or_default();
            match (raised.contains(code), expected.contains(code)) {
                (true, true) => d.true_positives += 1,
                (true, false) => d.false_positives += 1,
                (false, true) => d.false_negatives += 1,
                (false, false) => {}
            }
        }
    }
    for d in s.warnings.values_mut() {
        d.finish();
    }
    latencies.sort_by(f64::total_cmp);
    s.latency = Latency {
        p50_ms: percentile(&latencies, 0.5),
        p95_ms: percentile(&latencies, 0.95),
        max_ms: latencies.last().copied().unwrap_or(0.0),
    };
    for (cond, per) in measures {
        let row = s.measures_by_condition.entry(cond).or_default();
        for (k, mut v) in per {
            v.sort_by(f32::total_cmp);
            row.insert(k, [v[0], v[v.len() / 2], v[v.len() - 1]]);
        }
    }
    Ok(s)
}

impl Summary {
    /// The summary as a Chinese text report.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let pct = |s: &Score| format!("{:.1}% ({}/{})", 100.0 * s.accuracy, s.correct, s.total);
        let mut o = String::new();
        let _ = writeln!(
            o,
            "证照核验评测（{}）：{} 个案例，{} 张图像",
            self.source, self.cases, self.images
        );
        let _ = writeln!(o, "证件类型：{}", pct(&self.document_type));
        let _ = writeln!(o, "字段全部：{}", pct(&self.fields_all));
        for (k, v) in &self.fields {
            let _ = writeln!(o, "  {k:<24} {}", pct(v));
        }
        let _ = writeln!(o, "按版式（字段 / 结论）：");
        for (k, v) in &self.fields_all_by_layout {
            let _ = writeln!(
                o,
                "  {k:<28} 字段 {}  结论 {}",
                pct(v),
                self.verdict_by_layout.get(k).map(pct).unwrap_or_default()
            );
            for (f, score) in self.fields_by_layout.get(k).into_iter().flatten() {
                let _ = writeln!(o, "      {f:<24} {}", pct(score));
            }
        }
        let _ = writeln!(o, "按拍摄条件（字段）：");
        for (k, v) in &self.fields_all_by_condition {
            let _ = writeln!(
                o,
                "  {k:<16} 字段 {}  结论 {}",
                pct(v),
                self.verdict_by_condition
                    .get(k)
                    .map(pct)
                    .unwrap_or_default()
            );
            for (f, score) in self.fields_by_condition.get(k).into_iter().flatten() {
                let _ = writeln!(o, "      {f:<24} {}", pct(score));
            }
        }
        if !self.fields_all_by_overprint.is_empty() {
            let _ = writeln!(o, "按叠印（字段）：");
            for (k, v) in &self.fields_all_by_overprint {
                let _ = writeln!(o, "  {k:<20} {}", pct(v));
            }
            let _ = writeln!(o, "按拍摄条件与叠印（字段）：");
            for (k, v) in &self.fields_all_by_condition_overprint {
                let _ = writeln!(o, "  {k:<40} {}", pct(v));
            }
        }
        let _ = writeln!(o, "核对规则：{}", pct(&self.checks));
        let _ = writeln!(
            o,
            "结论：{}  {:?}",
            pct(&self.verdict),
            self.verdict_confusion
        );
        let _ = writeln!(
            o,
            "无效证件的结论（应为→实为）：{:?}",
            self.invalid_verdict_confusion
        );
        let _ = writeln!(o, "图像警告：");
        for (k, d) in &self.warnings {
            let _ = writeln!(
                o,
                "  {k:<16} 精确率 {:.2}  召回率 {:.2}  (TP {} FP {} FN {})",
                d.precision, d.recall, d.true_positives, d.false_positives, d.false_negatives
            );
        }
        let _ = writeln!(
            o,
            "耗时：p50 {:.0} ms，p95 {:.0} ms，最长 {:.0} ms",
            self.latency.p50_ms, self.latency.p95_ms, self.latency.max_ms
        );
        let _ = writeln!(o, "图像测量（最小 / 中位 / 最大）：");
        for (c, row) in &self.measures_by_condition {
            let cells: Vec<String> = row
                .iter()
                .map(|(k, [a, b, c])| format!("{k} {a:.3}/{b:.3}/{c:.3}"))
                .collect();
            let _ = writeln!(o, "  {c:<16} {}", cells.join("  "));
        }
        if !self.misses.is_empty() {
            let _ = writeln!(o, "不一致（前 40 项，样本数据均为虚构）：");
            for m in self.misses.iter().take(40) {
                let _ = writeln!(
                    o,
                    "  {} {}：应为 {}，实为 {}",
                    m.case, m.what, m.expected, m.got
                );
            }
        }
        o
    }
}

/// One image's reading as the OCR gave it (`eval-docs --save-readings`, read back with
/// `--readings`): the analysis can then be measured again without OCR.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SavedReading {
    page: OcrPage,
    turned: u16,
}

/// Where the OCR's readings are saved to, or read back from.
#[derive(Debug, Clone, Copy)]
pub enum Readings<'a> {
    /// Run the OCR; keep nothing.
    Read,
    /// Run the OCR and write every reading to this JSON file.
    Save(&'a Path),
    /// Read the readings saved in this file instead of running the OCR.
    Replay(&'a Path),
}

/// `xiaoban eval-docs DIR [--truth-lines] [--forms DIR] [--json]`.
pub fn command(
    config: &crate::config::Config,
    dir: &Path,
    truth_lines: bool,
    lines: Option<&Path>,
    readings: Readings<'_>,
    forms_dir: &Path,
    json: bool,
) -> Result<()> {
    let forms = Forms::load(forms_dir)?;
    let settings = Settings::default();
    let s = if let Readings::Replay(path) = readings {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("读取 {} 失败", path.display()))?;
        let saved: BTreeMap<String, SavedReading> =
            serde_json::from_str(&text).with_context(|| format!("{} 格式不对", path.display()))?;
        let mut read = |_: &RgbImage, t: &TruthImage| {
            let r = saved
                .get(&t.file)
                .with_context(|| format!("{} 中没有 {} 的识别结果", path.display(), t.file))?;
            Ok(Reading::replayed(r.page.clone(), r.turned))
        };
        let source = format!("{}（重放）", path.display());
        run(dir, &source, &mut read, &forms, &settings)?
    } else if let Some(path) = lines {
        let pages = read_lines(path)?;
        let mut read = |img: &RgbImage, t: &TruthImage| {
            let lines = pages
                .get(&t.file)
                .with_context(|| format!("{} 中没有 {} 的文字行", path.display(), t.file))?;
            Ok(Reading {
                image: img.clone(),
                page: page_of(img.width(), img.height(), lines.clone()),
                document: None,
                turned: 0,
            })
        };
        run(
            dir,
            &path.display().to_string(),
            &mut read,
            &forms,
            &settings,
        )?
    } else if truth_lines {
        let mut read = |img: &RgbImage, t: &TruthImage| {
            Ok(Reading {
                image: upright(img, t),
                page: truth_page(t),
                document: None,
                turned: 0,
            })
        };
        run(dir, "truth-lines", &mut read, &forms, &settings)?
    } else {
        let ocr = match crate::ocr::OcrEngine::load(&config.models_dir) {
            Ok(ocr) => ocr,
            Err(e) => {
                eprintln!("eval-docs：跳过评测。{e}。也可加 --truth-lines 只评测分析部分。");
                return Ok(());
            }
        };
        let verifier = Verifier::new(ocr, forms.clone());
        let mut saved = BTreeMap::new();
        let mut read = |img: &RgbImage, t: &TruthImage| {
            let r = verifier.read(img)?;
            if let Readings::Save(_) = readings {
                let s = SavedReading {
                    page: r.page.clone(),
                    turned: r.turned,
                };
                saved.insert(t.file.clone(), s);
            }
            Ok(r)
        };
        let s = run(dir, "pp-ocrv6", &mut read, &forms, &settings)?;
        if let Readings::Save(path) = readings {
            std::fs::write(path, serde_json::to_string(&saved)?)
                .with_context(|| format!("写入 {} 失败", path.display()))?;
        }
        s
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print!("{}", s.to_text());
    }
    Ok(())
}
