//! What the analysis reads: the OCR engine's page of text lines (`crate::ocr`), and two
//! constructors for pages built by hand (tests, the evaluation's truth-line mode).

pub use crate::ocr::{OcrLine, OcrPage, OcrTimings, Quad};

/// A page built from lines (tests, the evaluation's truth-line mode).
pub fn page_of(width: u32, height: u32, lines: Vec<OcrLine>) -> OcrPage {
    OcrPage {
        width,
        height,
        lines,
        timings: Default::default(),
    }
}

/// A line with every character at `confidence`, in an axis-aligned box.
pub fn line_at(text: &str, confidence: f32, x: f32, y: f32, w: f32, h: f32) -> OcrLine {
    OcrLine {
        text: text.to_owned(),
        confidence,
        char_confidences: vec![confidence; text.chars().count()],
        alternatives: Vec::new(),
        quad: [[x, y], [x + w, y], [x + w, y + h], [x, y + h]],
    }
}
