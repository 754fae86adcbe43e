//! Document verification measured on generated specimens, with floors the suite enforces.
//!
//! `scripts/make_specimens.py` (Python 3 + Pillow, scripts/requirements-specimens.txt; Debian's
//! fonts-noto-cjk and fonts-ocr-b) draws 10 identity cards (front + back, one back alone) and 10
//! business licences from the published layouts (caption, footer, seal, overprints) — 29 images
//! in the first 10 of its 13 conditions and with invalid variants — and their truth. Two runs:
//!
//! 1. the analysis alone, fed the lines the generator drew (a perfect OCR): every check, verdict
//!    and image warning must come out right;
//! 2. the whole pipeline with the real PP-OCR models (fetched like tests/ocr.rs does): floors a
//!    little under what was measured when this test was written (see the asserts).
//!
//! Without Python/Pillow the test is skipped with a message, except under CI, where it fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use xiaoban::measure::documents::{Summary, TruthImage, run, truth_page, upright};
use xiaoban::verify::{Field, Forms, Reading, Settings, Verifier};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Specimens drawn by `make_specimens.py` with `args`; `None` (skip) when Python or Pillow is
/// missing outside CI.
fn generate(args: &[&str]) -> Option<tempfile::TempDir> {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("python3")
        .arg(repo().join("scripts/make_specimens.py"))
        .arg(dir.path())
        .args(args)
        .output();
    match out {
        Ok(o) if o.status.success() => Some(dir),
        other => {
            let why = match other {
                Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                Err(e) => e.to_string(),
            };
            assert!(
                std::env::var_os("CI").is_none(),
                "make_specimens.py failed under CI: {why}"
            );
            eprintln!(
                "SKIPPED: specimens could not be generated (pip install -r scripts/requirements-specimens.txt): {why}"
            );
            None
        }
    }
}

/// The main set, generated once per test binary.
fn specimens() -> Option<&'static Path> {
    static DIR: std::sync::OnceLock<Option<tempfile::TempDir>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| generate(&["--count", "10", "--seed", "7"]))
        .as_ref()
        .map(|d| d.path())
}

fn forms() -> Forms {
    Forms::load(&repo().join("forms")).unwrap()
}

fn show(s: &Summary) -> String {
    s.to_text()
}

// The checks cite their rules in src/verify/check.rs: GB 11643 (check character, region,
// birth date), 居民身份证法 第五条 (validity by age), GB 32100/GB 11714 (credit code), type ↔
// code digit 2 (个体工商户), dates and terms against "today" (DOMAIN.md).
#[test]
fn analysis_on_perfect_ocr_gets_every_check_verdict_and_warning_right() {
    let Some(dir) = specimens() else { return };
    let mut read = |img: &image::RgbImage, t: &TruthImage| {
        Ok(Reading {
            image: upright(img, t),
            page: truth_page(t),
            document: None,
            turned: 0,
        })
    };
    let s = run(
        dir,
        "truth-lines",
        &mut read,
        &forms(),
        &Settings::default(),
    )
    .unwrap();
    assert_eq!((s.cases, s.images), (20, 29));
    assert_eq!(s.document_type.accuracy, 1.0, "{}", show(&s));
    assert_eq!(s.checks.accuracy, 1.0, "{}", show(&s));
    assert_eq!(s.verdict.accuracy, 1.0, "{}", show(&s));
    for (code, d) in &s.warnings {
        assert_eq!((d.precision, d.recall), (1.0, 1.0), "{code}: {}", show(&s));
    }
    // Only crops lose text (the generator keeps what stays visible).
    for (cond, score) in &s.fields_all_by_condition {
        let floor = if cond == "crop" { 0.8 } else { 1.0 };
        assert!(score.accuracy >= floor, "{cond}: {}", show(&s));
    }
}

fn engine() -> Option<xiaoban::ocr::OcrEngine> {
    let dir = repo().join("models");
    if let Ok(e) = xiaoban::ocr::OcrEngine::load(&dir) {
        return Some(e);
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    for model in ["pp-ocrv6", "onnxruntime"] {
        if let Err(e) = rt.block_on(xiaoban::models::fetch(&dir, Some(model), false)) {
            assert!(
                std::env::var_os("CI").is_none(),
                "cannot fetch {model}: {e:#}"
            );
            eprintln!("SKIPPED: OCR models absent and not fetchable: {e:#}");
            return None;
        }
    }
    Some(xiaoban::ocr::OcrEngine::load(&dir).unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn whole_pipeline_with_pp_ocr_meets_its_floors() {
    let Some(dir) = specimens() else { return };
    let Some(ocr) = engine() else { return };
    let verifier = Verifier::new(ocr, forms());
    let mut read = |img: &image::RgbImage, _: &TruthImage| verifier.read(img);
    let s = run(dir, "pp-ocrv6", &mut read, &forms(), &Settings::default()).unwrap();
    eprintln!("{}", show(&s));
    assert!(s.document_type.accuracy >= TYPE_FLOOR, "{}", show(&s));
    assert!(s.fields_all.accuracy >= FIELDS_FLOOR, "{}", show(&s));
    for cond in ["clean", "perspective", "dark", "overexposed"] {
        let a = s.fields_all_by_condition[cond].accuracy;
        assert!(a >= CLEAN_FIELDS_FLOOR, "{cond} {a}: {}", show(&s));
    }
    assert!(s.checks.accuracy >= CHECKS_FLOOR, "{}", show(&s));
    assert!(s.verdict.accuracy >= VERDICT_FLOOR, "{}", show(&s));
    // Identity numbers and credit codes (check-character correction, src/verify/correct.rs)
    // wherever the card or licence is whole.
    let (mut right, mut all) = (0, 0);
    for (cond, fields) in &s.fields_by_condition {
        for name in ["id_number", "credit_code"] {
            if let (false, Some(score)) = (cond == "crop", fields.get(name)) {
                (right, all) = (right + score.correct, all + score.total);
            }
        }
    }
    assert!(all > 0, "{}", show(&s));
    let numbers = right as f64 / all as f64;
    assert!(numbers >= NUMBERS_FLOOR, "numbers {numbers}: {}", show(&s));
    // No document that should fail or need a look passes, whatever the OCR made of it.
    for (pair, n) in &s.verdict_confusion {
        assert!(
            pair == "pass→pass" || !pair.ends_with("→pass"),
            "{n} × {pair}: {}",
            show(&s)
        );
    }
    for (code, d) in &s.warnings {
        // A front the reader cannot tell from anything else makes the back look unmatched.
        let precision = if code == "second_image_not_matching" {
            0.0
        } else {
            0.99
        };
        assert!(
            d.precision >= precision && d.recall >= WARNING_RECALL_FLOOR,
            "{code}: {}",
            show(&s)
        );
    }
}

/// Two cards and two licences of `seed` in `condition`, and a verifier with the PP-OCR models;
/// `None` (skip) as [`generate`] and [`engine`] say.
fn two_of_each(seed: &str, condition: &str) -> Option<(tempfile::TempDir, Verifier)> {
    let dir = generate(&["--count", "2", "--seed", seed, "--conditions", condition])?;
    Some((dir, Verifier::new(engine()?, forms())))
}

// Issue 13: under a screen's violet cast a card's blue labels look like a pen's ink and were
// set aside with it, so a photographed screen showing a card front was no document at all, its
// number unread, and the back beside it reported as not matching. Seed 9001's first two
// recapture cards are two such fronts (before the page was read again with its red ink alone
// set aside: neither recognised; on seed 7160's 38 screen photos of fronts, 7 not).
#[test]
fn card_fronts_photographed_on_a_screen_are_recognised() {
    let Some((dir, verifier)) = two_of_each("9001", "recapture") else {
        return;
    };
    let mut read = |img: &image::RgbImage, _: &TruthImage| verifier.read(img);
    let s = run(
        dir.path(),
        "pp-ocrv6",
        &mut read,
        &forms(),
        &Settings::default(),
    )
    .unwrap();
    assert_eq!(s.document_type.accuracy, 1.0, "{}", show(&s));
    let ids = &s.fields["id_number"];
    assert_eq!((ids.correct, ids.total), (2, 2), "{}", show(&s));
    assert!(
        !s.warnings.contains_key("second_image_not_matching"),
        "{}",
        show(&s)
    );
}

// Issue 13: a licence's 经营范围 ends with 。, a dot the detector's box leaves out now and then,
// on photocopies most; the scope then looked cut short and went to review. Seed 9007's second
// photocopied licence is one such (its scope's last line read "…经营活动）" before the line was
// recognised again with its box reaching further right).
#[test]
fn a_photocopied_licence_keeps_its_scope_s_closing_period() {
    let Some((dir, verifier)) = two_of_each("9007", "photocopy") else {
        return;
    };
    for n in 0..2 {
        let file = dir.path().join(format!("licence-{n:04}.png"));
        let img = image::open(&file).unwrap().to_rgb8();
        let reading = verifier.read(&img).unwrap();
        let fields = xiaoban::verify::licence::extract(&reading.page);
        let scope = fields["business_scope"].value.expose();
        assert!(scope.ends_with('。'), "licence {n}: {scope}");
    }
}

/// Seed `seed`'s licence `id` drawn under `condition`, which carries `overprint`: its true fields
/// and the fields the verifier read.
fn read_licence(
    seed: &str,
    condition: &str,
    id: &str,
    overprint: &str,
) -> Option<(BTreeMap<String, String>, BTreeMap<String, Field>)> {
    let (dir, verifier) = two_of_each(seed, condition)?;
    let truth: xiaoban::measure::documents::Truth =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("truth.json")).unwrap())
            .unwrap();
    let case = truth.cases.into_iter().find(|c| c.id == id).unwrap();
    assert_eq!(case.overprint, overprint);
    let img = image::open(dir.path().join(&case.images[0].file))
        .unwrap()
        .to_rgb8();
    let reading = verifier.read(&img).unwrap();
    Some((
        case.fields,
        xiaoban::verify::licence::extract(&reading.page),
    ))
}

// Issue 13: navy writing (仅供…使用，他用无效) across a licence's 住所 line. With its violet
// set aside too few blue pixels were left for the licence to be read again without blue ink,
// and the blend of ink and paper along the strokes stayed; the address came out as
// 力示例市滨江区新华街2海层 and the licence went to review. Seed 9011's second clean licence.
#[test]
fn a_licence_with_navy_writing_across_its_address_keeps_the_address() {
    let Some((truth, fields)) = read_licence("9011", "clean", "licence-0001", "sample+handwritten")
    else {
        return;
    };
    assert_eq!(
        fields.get("address").map(|f| f.value.expose()),
        Some(truth["address"].as_str())
    );
}

// Issue 13: on a black-and-white photocopy the 样本 overprint is a flat grey no colour tells
// apart; across a licence's 住所 and 经营范围 lines it drew the detector's boxes around both, and
// the lines were lost (the address unread, the scope's lines run into the legal
// representative's). A licence missing or doubting a field is read again with its mid-greys
// set to paper (`photo::without_grey`). Seed 9020's first photocopied licence, which carries
// 样本 alone, read before that: four of its ten fields wrong or missing.
#[test]
fn a_photocopied_licence_is_read_through_its_grey_overprint() {
    let Some((truth, fields)) = read_licence("9020", "photocopy", "licence-0000", "sample") else {
        return;
    };
    for (name, value) in &truth {
        assert_eq!(
            fields.get(name).map(|f| f.value.expose()),
            Some(value.as_str()),
            "{name}"
        );
    }
}

// Issue 13: on a washed-out copy the scope's closing 。 is a faint ring the recogniser misses
// or reads as ， or ．, and the line's separators come out differently each time it is read;
// the scope then looked cut short. Seed 9038's second washed-out licence (handwriting across
// it): before its last line was read again from a stretched crop too, and a closing mark
// found there taken as the 。, the scope read "。餐饮服务；…零售。" and the capital 参佰万元整.
#[test]
fn a_washed_out_copy_s_scope_keeps_its_closing_period() {
    let Some((truth, fields)) = read_licence(
        "9038",
        "photocopy_overexposed",
        "licence-0001",
        "sample+handwritten",
    ) else {
        return;
    };
    for name in ["business_scope", "registered_capital"] {
        assert_eq!(
            fields.get(name).map(|f| f.value.expose()),
            Some(truth[name].as_str()),
            "{name}"
        );
    }
}

// Issue 13: on a washed-out black-and-white copy a stamp's 仅供…使用 across a card's address
// stays a light grey after the page's grey step, and its 用，他 was read into the line. Seed
// 9032's second washed-out card front (样本 and a stamp): before the address bands were read
// again with lower greys set to paper too, its address read 东例省示例县东风村组书子。号.
// With PP-OCRv6 the address reads whole but for the stamp's last 无 after the house number
// (示例省示例县东风村1组42号无), so the test holds the address whole and free of the stamp's
// 他用 and its comma, not an exact match.
#[test]
fn a_stamp_across_a_copied_card_s_address_is_read_around() {
    let Some((dir, verifier)) = two_of_each("9032", "photocopy_overexposed") else {
        return;
    };
    let truth: xiaoban::measure::documents::Truth =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("truth.json")).unwrap())
            .unwrap();
    let case = truth
        .cases
        .into_iter()
        .find(|c| c.id == "idcard-0001")
        .unwrap();
    assert_eq!(case.overprint, "sample+stamp");
    let img = image::open(dir.path().join("idcard-0001-front.png"))
        .unwrap()
        .to_rgb8();
    let reading = verifier.read(&img).unwrap();
    let fields = xiaoban::verify::card::extract_front(&reading.page);
    let address = fields["address"].value.expose();
    assert!(
        address.starts_with(case.fields["address"].as_str())
            && !address.contains("他用")
            && !address.contains(['，', ',']),
        "{address}"
    );
}

// Regression guards, not targets. Measured on this set (debug build, 2026-12-06) after the
// specimens were redrawn from the published layouts (caption, footer, ornament, seal and
// overprints on the 2019 licence, GA 450 cards): document types 0.966 (28/29), fields 0.744
// (131/176), of the four conditions below the weakest clean 0.474 (9/19: one card front not
// recognised at all), checks 0.993 (139/140), verdicts 0.85 (17/20), numbers outside crops
// 16/17, no invalid document passed. Then (issue 13) with red ink set aside before reading, a
// licence's blue stamp read around, the whole photo read when the cut-out shows no document,
// caption tails cut and each value checked against its form: types 1.0 (29/29), fields 0.824
// (145/176), clean 1.0 (19/19) and the weakest of the four dark 0.765 (13/17), checks 1.0
// (150/150), verdicts 1.0 (20/20), no invalid document passed. Then (issue 13, labels by their
// column, wrapped values by their lines' geometry): fields 0.852 (150/176), clean 1.0 (19/19),
// the weakest of the four dark 0.824 (14/17), checks 1.0 (151/151), verdicts 1.0 (20/20).
// Then (issue 13) the generator draws the overprint apart from the condition, so this set
// changed: a clean licence now carries handwriting and a low-resolution one a stamp, and with
// violet-blue ink set aside: fields 0.864 (152/176), checks 0.993 (152/153), verdicts 0.90
// (18/20: the clean licence's address not read → review, the low-resolution licence whose term
// ended → review instead of fail), no invalid document passed.
const TYPE_FLOOR: f64 = 0.99;
const FIELDS_FLOOR: f64 = 0.84;
const CLEAN_FIELDS_FLOOR: f64 = 0.8;
const CHECKS_FLOOR: f64 = 0.99;
const VERDICT_FLOOR: f64 = 0.9;
const NUMBERS_FLOOR: f64 = 0.9;
const WARNING_RECALL_FLOOR: f64 = 0.99;
