//! Reading order: lines grouped into rows (top to bottom), left to right inside a row, and
//! pieces of one line that the detector split (overlapping or touching boxes on the same row)
//! merged back into one.

use super::{OcrLine, Quad};

fn bounds(q: &Quad) -> (f32, f32, f32, f32) {
    let xs = q.iter().map(|p| p[0]);
    let ys = q.iter().map(|p| p[1]);
    (
        xs.clone().fold(f32::MAX, f32::min),
        ys.clone().fold(f32::MAX, f32::min),
        xs.fold(f32::MIN, f32::max),
        ys.fold(f32::MIN, f32::max),
    )
}

/// Line height: the mean of the quad's left and right sides.
fn height(q: &Quad) -> f32 {
    let d = |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    (d(q[0], q[3]) + d(q[1], q[2])) / 2.0
}

fn centre_y(q: &Quad) -> f32 {
    q.iter().map(|p| p[1]).sum::<f32>() / 4.0
}

/// Puts `lines` in reading order and merges split pieces of one line. Two lines share a row
/// when their vertical centres are closer than half the smaller height; two neighbours in a
/// row are one line when the gap between them is under `merge_gap` × their height (0.25: a
/// split inside a word, not the gap between a label and its value).
pub fn order(mut lines: Vec<OcrLine>, merge_gap: f32) -> Vec<OcrLine> {
    lines.sort_by(|a, b| centre_y(&a.quad).total_cmp(&centre_y(&b.quad)));
    let mut rows: Vec<Vec<OcrLine>> = Vec::new();
    for line in lines {
        let (cy, h) = (centre_y(&line.quad), height(&line.quad));
        let joins = rows.last().is_some_and(|row| {
            let row_cy = row.iter().map(|l| centre_y(&l.quad)).sum::<f32>() / row.len() as f32;
            let row_h = row.iter().map(|l| height(&l.quad)).sum::<f32>() / row.len() as f32;
            (cy - row_cy).abs() < 0.5 * h.min(row_h)
        });
        if joins {
            rows.last_mut().expect("a row exists").push(line);
        } else {
            rows.push(vec![line]);
        }
    }
    let mut out = Vec::new();
    for mut row in rows {
        row.sort_by(|a, b| bounds(&a.quad).0.total_cmp(&bounds(&b.quad).0));
        let mut merged: Vec<OcrLine> = Vec::new();
        for line in row {
            if let Some(prev) = merged.last_mut() {
                let gap = bounds(&line.quad).0 - bounds(&prev.quad).2;
                let h = height(&prev.quad).min(height(&line.quad));
                if gap < merge_gap * h {
                    merge_into(prev, line);
                    continue;
                }
            }
            merged.push(line);
        }
        out.extend(merged);
    }
    out
}

fn merge_into(a: &mut OcrLine, b: OcrLine) {
    a.text.push_str(&b.text);
    a.char_confidences.extend(b.char_confidences);
    if a.alternatives.len() + b.alternatives.len() == a.text.chars().count() {
        a.alternatives.extend(b.alternatives);
    } else {
        a.alternatives.clear();
    }
    a.confidence = if a.char_confidences.is_empty() {
        a.confidence.min(b.confidence)
    } else {
        a.char_confidences.iter().sum::<f32>() / a.char_confidences.len() as f32
    };
    a.quad = [a.quad[0], b.quad[1], b.quad[2], a.quad[3]];
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str, x: f32, y: f32, w: f32, h: f32) -> OcrLine {
        OcrLine {
            text: text.into(),
            confidence: 0.9,
            char_confidences: vec![0.9; text.chars().count()],
            alternatives: Vec::new(),
            quad: [[x, y], [x + w, y], [x + w, y + h], [x, y + h]],
        }
    }

    fn texts(lines: &[OcrLine]) -> Vec<&str> {
        lines.iter().map(|l| l.text.as_str()).collect()
    }

    #[test]
    fn rows_top_to_bottom_and_left_to_right() {
        // An ID card front: 性别 and 民族 on one row, a slightly lower box on the right.
        let lines = vec![
            line("民族汉", 300.0, 104.0, 120.0, 30.0),
            line("公民身份号码", 40.0, 400.0, 200.0, 30.0),
            line("姓名张三", 40.0, 40.0, 160.0, 30.0),
            line("性别男", 40.0, 100.0, 100.0, 30.0),
        ];
        let ordered = order(lines, 0.25);
        assert_eq!(
            texts(&ordered),
            ["姓名张三", "性别男", "民族汉", "公民身份号码"]
        );
    }

    #[test]
    fn split_pieces_of_a_line_are_merged() {
        let lines = vec![
            line("11010519", 250.0, 400.0, 160.0, 30.0),
            line("491231002X", 405.0, 401.0, 200.0, 30.0),
            line("公民身份号码", 40.0, 400.0, 150.0, 30.0),
        ];
        let ordered = order(lines, 0.25);
        assert_eq!(texts(&ordered), ["公民身份号码", "11010519491231002X"]);
        let number = &ordered[1];
        assert_eq!(number.char_confidences.len(), 18);
        assert_eq!(number.quad[0], [250.0, 400.0]);
        assert_eq!(number.quad[1], [605.0, 401.0]);
    }

    #[test]
    fn a_tilted_row_stays_one_row() {
        let lines = vec![
            line("B", 200.0, 112.0, 50.0, 30.0),
            line("A", 40.0, 100.0, 50.0, 30.0),
            line("C", 40.0, 150.0, 50.0, 30.0),
        ];
        assert_eq!(texts(&order(lines, 0.25)), ["A", "B", "C"]);
    }
}
