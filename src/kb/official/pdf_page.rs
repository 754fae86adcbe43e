//! Where a PDF page prints its text: the page's content stream walked with the text state of
//! PDF 32000-1 §9.4 (text and line matrices, `cm`, leading), each shown string decoded by its
//! font's encoding and placed at its starting point. Placed runs become printed lines (runs on
//! one baseline, left to right) and a line's cells (runs set apart by a wide gap, as a table's
//! columns are). Glyph widths are estimated (a Chinese character one em, Latin half an em): the
//! reader needs where lines start and where wide gaps are, not exact glyph boxes.

use lopdf::{Document, Encoding, Object, ObjectId};
use std::collections::BTreeMap;

/// A string shown on the page, in page space (points, y upwards).
#[derive(Debug, Clone, PartialEq)]
struct Run {
    x: f32,
    y: f32,
    end: f32,
    size: f32,
    text: String,
}

/// One printed line: its left edge, its font size and its cells from left to right.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub x: f32,
    pub size: f32,
    /// Each cell's left edge and text.
    pub cells: Vec<(f32, String)>,
}

impl Line {
    /// The line's text, its cells joined by a space.
    pub fn text(&self) -> String {
        self.cells
            .iter()
            .map(|(_, t)| t.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

type Matrix = [f32; 6];
const IDENTITY: Matrix = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];

/// `a × b` for PDF's row-vector matrices.
fn multiply(a: &Matrix, b: &Matrix) -> Matrix {
    [
        a[0] * b[0] + a[1] * b[2],
        a[0] * b[1] + a[1] * b[3],
        a[2] * b[0] + a[3] * b[2],
        a[2] * b[1] + a[3] * b[3],
        a[4] * b[0] + a[5] * b[2] + b[4],
        a[4] * b[1] + a[5] * b[3] + b[5],
    ]
}

fn translate(tx: f32, ty: f32) -> Matrix {
    [1.0, 0.0, 0.0, 1.0, tx, ty]
}

/// A gap wider than this many ems between two runs on a line separates cells.
const CELL_GAP_EMS: f32 = 1.5;

/// The page's printed lines, top to bottom. `limit` bounds the decompressed content.
pub fn lines(doc: &Document, page: ObjectId, limit: usize) -> lopdf::Result<Vec<Line>> {
    Ok(group(runs(doc, page, limit)?))
}

fn runs(doc: &Document, page: ObjectId, limit: usize) -> lopdf::Result<Vec<Run>> {
    let encodings: BTreeMap<Vec<u8>, Encoding> = doc
        .get_page_fonts(page)?
        .into_iter()
        .filter_map(|(name, font)| {
            font.get_font_encoding_with_limit(doc, limit)
                .ok()
                .map(|e| (name, e))
        })
        .collect();
    let content = lopdf::content::Content::decode(&doc.get_page_content_with_limit(page, limit)?)?;
    let mut walk = Walk::default();
    for op in &content.operations {
        let nums: Vec<f32> = op
            .operands
            .iter()
            .filter_map(|o| o.as_float().ok())
            .collect();
        let num = |i: usize| nums.get(i).copied().unwrap_or(0.0);
        match op.operator.as_str() {
            "q" => walk.saved.push(walk.ctm),
            "Q" => walk.ctm = walk.saved.pop().unwrap_or(IDENTITY),
            "cm" if nums.len() == 6 => {
                let m = [num(0), num(1), num(2), num(3), num(4), num(5)];
                walk.ctm = multiply(&m, &walk.ctm);
            }
            "BT" => {
                walk.tm = IDENTITY;
                walk.tlm = IDENTITY;
            }
            "Td" => walk.next_line(num(0), num(1)),
            "TD" => {
                walk.leading = -num(1);
                walk.next_line(num(0), num(1));
            }
            "Tm" if nums.len() == 6 => {
                walk.tlm = [num(0), num(1), num(2), num(3), num(4), num(5)];
                walk.tm = walk.tlm;
            }
            "T*" => walk.next_line(0.0, -walk.leading),
            "TL" => walk.leading = num(0),
            "Tc" => walk.char_spacing = num(0),
            "Tw" => walk.word_spacing = num(0),
            "Tz" => walk.scale = num(0) / 100.0,
            "Tf" => {
                walk.font = op
                    .operands
                    .first()
                    .and_then(|o| o.as_name().ok())
                    .map(<[u8]>::to_vec);
                walk.size = nums.first().copied().unwrap_or(walk.size);
            }
            "Tj" | "'" | "\"" => {
                if op.operator != "Tj" {
                    walk.next_line(0.0, -walk.leading);
                }
                if let Some(Object::String(bytes, _)) = op.operands.last() {
                    walk.show(
                        encodings.get(walk.font.as_deref().unwrap_or_default()),
                        bytes,
                    );
                }
            }
            "TJ" => {
                let encoding = encodings.get(walk.font.as_deref().unwrap_or_default());
                for item in op
                    .operands
                    .first()
                    .and_then(|o| o.as_array().ok())
                    .into_iter()
                    .flatten()
                {
                    match item {
                        Object::String(bytes, _) => walk.show(encoding, bytes),
                        other => {
                            let adjust = other.as_float().unwrap_or(0.0);
                            walk.advance(-adjust / 1000.0 * walk.size * walk.scale);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Ok(walk.runs)
}

struct Walk {
    ctm: Matrix,
    saved: Vec<Matrix>,
    tm: Matrix,
    tlm: Matrix,
    leading: f32,
    char_spacing: f32,
    word_spacing: f32,
    scale: f32,
    font: Option<Vec<u8>>,
    size: f32,
    runs: Vec<Run>,
}

impl Default for Walk {
    fn default() -> Self {
        Walk {
            ctm: IDENTITY,
            saved: Vec::new(),
            tm: IDENTITY,
            tlm: IDENTITY,
            leading: 0.0,
            char_spacing: 0.0,
            word_spacing: 0.0,
            scale: 1.0,
            font: None,
            size: 12.0,
            runs: Vec::new(),
        }
    }
}

impl Walk {
    fn next_line(&mut self, tx: f32, ty: f32) {
        self.tlm = multiply(&translate(tx, ty), &self.tlm);
        self.tm = self.tlm;
    }

    /// Moves along the baseline by `dx` text-space units.
    fn advance(&mut self, dx: f32) {
        self.tm = multiply(&translate(dx, 0.0), &self.tm);
    }

    fn show(&mut self, encoding: Option<&Encoding>, bytes: &[u8]) {
        let Some(text) = encoding.and_then(|e| Document::decode_text(e, bytes).ok()) else {
            return;
        };
        let start = multiply(&self.tm, &self.ctm);
        let mut width = 0.0;
        for c in text.chars() {
            let glyph = if c.is_ascii() { 0.5 } else { 1.0 };
            width += (glyph * self.size
                + self.char_spacing
                + if c == ' ' { self.word_spacing } else { 0.0 })
                * self.scale;
        }
        self.advance(width);
        let end = multiply(&self.tm, &self.ctm);
        // The printed size: the font size through the text and page matrices' vertical scale.
        let size = self.size * start[2].hypot(start[3]);
        if !text.chars().all(char::is_whitespace) || text.contains('\u{3000}') {
            self.runs.push(Run {
                x: start[4],
                y: start[5],
                end: end[4],
                size: size.abs().max(1.0),
                text,
            });
        }
    }
}

/// Runs on one baseline (within half the font size) form a line; lines run top to bottom, runs
/// left to right, and a gap wider than [`CELL_GAP_EMS`] starts a new cell.
fn group(mut runs: Vec<Run>) -> Vec<Line> {
    runs.sort_by(|a, b| b.y.total_cmp(&a.y).then(a.x.total_cmp(&b.x)));
    let mut rows: Vec<Vec<Run>> = Vec::new();
    for run in runs {
        match rows.last_mut() {
            Some(row) if (row[0].y - run.y).abs() < row[0].size.min(run.size) * 0.5 => {
                row.push(run)
            }
            _ => rows.push(vec![run]),
        }
    }
    rows.into_iter()
        .map(|mut row| {
            row.sort_by(|a, b| a.x.total_cmp(&b.x));
            let size = row.iter().map(|r| r.size).fold(0.0, f32::max);
            let mut cells: Vec<(f32, String)> = Vec::new();
            let mut end = f32::MIN;
            for run in row {
                let gap = run.x - end;
                match cells.last_mut() {
                    Some((_, text)) if gap <= CELL_GAP_EMS * size => {
                        if gap > 0.2 * size
                            && text.ends_with(|c: char| c.is_ascii_alphanumeric())
                            && run.text.starts_with(|c: char| c.is_ascii_alphanumeric())
                        {
                            text.push(' ');
                        }
                        text.push_str(&run.text);
                    }
                    _ => cells.push((run.x, run.text.clone())),
                }
                end = end.max(run.end);
            }
            Line {
                x: cells[0].0,
                size,
                cells,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(x: f32, y: f32, text: &str) -> Run {
        let width: f32 = text
            .chars()
            .map(|c| if c.is_ascii() { 6.0 } else { 12.0 })
            .sum();
        Run {
            x,
            y,
            end: x + width,
            size: 12.0,
            text: text.into(),
        }
    }

    #[test]
    fn runs_group_into_lines_and_cells() {
        let lines = group(vec![
            run(72.0, 700.0, "档次"),
            run(200.0, 700.3, "标准"),
            run(72.0, 682.0, "八十周岁"),
            run(200.0, 682.0, "每月100元"),
            run(72.0, 760.0, "第一条"),
            run(108.0, 760.0, "正文接着写"),
            run(72.0, 740.0, "English"),
            run(117.0, 740.0, "words"),
        ]);
        let texts: Vec<Vec<&str>> = lines
            .iter()
            .map(|l| l.cells.iter().map(|(_, t)| t.as_str()).collect())
            .collect();
        assert_eq!(
            texts,
            vec![
                vec!["第一条正文接着写"],
                vec!["English words"],
                vec!["档次", "标准"],
                vec!["八十周岁", "每月100元"],
            ]
        );
        assert_eq!(lines[2].cells[1].0, 200.0);
    }

    #[test]
    fn matrices_compose_as_pdf_does() {
        // Scale by 2, then move by (10, 20): a point at (1, 1) lands at (12, 22).
        let m = multiply(&[2.0, 0.0, 0.0, 2.0, 0.0, 0.0], &translate(10.0, 20.0));
        assert_eq!((m[4] + m[0], m[5] + m[3]), (12.0, 22.0));
    }
}
