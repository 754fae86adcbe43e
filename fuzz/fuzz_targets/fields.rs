//! The field extractors: OCR lines built from the input go through classification, the
//! identity-card and licence extractors, the checks, the verdict and the form pre-fill.
//!
//! Each input line is one OCR line. A line written `x y w h|text` places the text at that box
//! (any numbers, also negative, huge or NaN); other lines are laid out one under the other.
#![no_main]

use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use xiaoban::ocr::{OcrLine, OcrPage, OcrTimings};
use xiaoban::verify::prefill::Forms;
use xiaoban::verify::{Settings, Side, analyse, field};

fn forms() -> &'static Forms {
    static FORMS: OnceLock<Forms> = OnceLock::new();
    FORMS.get_or_init(|| {
        Forms::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../forms"))
            .expect("the repository's forms load")
    })
}

fn page(text: &str) -> OcrPage {
    let lines = text
        .lines()
        .take(200)
        .enumerate()
        .map(|(i, line)| {
            let (x, y, w, h, text) = match line.split_once('|').and_then(|(geo, text)| {
                let n: Vec<f32> = geo.split_whitespace().filter_map(|v| v.parse().ok()).collect();
                (n.len() == 4).then(|| (n[0], n[1], n[2], n[3], text))
            }) {
                Some(placed) => placed,
                None => {
                    let w = 24.0 * line.chars().count() as f32;
                    (40.0, 40.0 + 44.0 * i as f32, w, 32.0, line)
                }
            };
            let n = text.chars().count();
            let confidence = 0.5 + (i % 5) as f32 / 10.0;
            OcrLine {
                text: text.to_string(),
                confidence,
                char_confidences: vec![confidence; n],
                alternatives: Vec::new(),
                quad: [[x, y], [x + w, y], [x + w, y + h], [x, y + h]],
            }
        })
        .collect();
    OcrPage {
        width: 1000,
        height: 630,
        lines,
        timings: OcrTimings::default(),
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let today = NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date");
    // Two pages when the input has a form feed: a card's front and back.
    let mut parts = text.splitn(2, '\u{c}');
    let first = page(parts.next().unwrap_or_default());
    let second = parts.next().map(page);
    let side = |p| Side {
        page: p,
        image: None,
        document: None,
    };
    let report = analyse(
        side(&first),
        second.as_ref().map(side),
        today,
        forms(),
        &Settings::default(),
    );
    let _ = format!("{report:?}");
    let _ = field::find_id_number(&text);
    let _ = field::find_credit_code(&text);
    let _ = field::find_date(&text);
    let _ = field::clean_text(&text);
});
