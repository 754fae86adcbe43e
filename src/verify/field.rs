//! Fields and the text they are cut from.
//!
//! OCR gives lines; a field is a run of characters after its label. The lines are put in
//! reading order (rows top to bottom, left to right inside a row) and concatenated into one
//! [`Stream`] of characters, each keeping its confidence and its box, so a value split over
//! several boxes or lines, or glued to its label ("姓名张三": PP-OCR rarely emits spaces), is cut
//! the same way: from the end of its label to the start of the next label.
//!
//! A field value may be personal data (name, identity number, address): [`FieldValue`]'s
//! `Debug` never shows it. Serialisation (the API response) does.

use super::page::{OcrLine, Quad};
use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A field's text. `Debug` shows only its length when it is personal data.
#[derive(Clone, PartialEq, Eq)]
pub struct FieldValue {
    text: String,
    personal: bool,
    /// Typed by a person (a correction), not read by the OCR.
    edited: bool,
}

impl FieldValue {
    /// Personal data (name, number, address, dates of a person): hidden from `Debug`.
    pub fn personal(text: impl Into<String>) -> FieldValue {
        FieldValue {
            text: text.into(),
            personal: true,
            edited: false,
        }
    }

    /// Public data (a company's name, its credit code, an authority).
    pub fn public(text: impl Into<String>) -> FieldValue {
        FieldValue {
            text: text.into(),
            personal: false,
            edited: false,
        }
    }

    /// The value. Named so each use of a personal value is visible in review.
    pub fn expose(&self) -> &str {
        &self.text
    }

    pub fn is_personal(&self) -> bool {
        self.personal
    }

    /// Whether a person typed this value (a correction).
    pub fn is_edited(&self) -> bool {
        self.edited
    }

    /// `text` typed by a person in place of this value: personal if this one was.
    pub fn corrected(&self, text: impl Into<String>) -> FieldValue {
        FieldValue {
            text: text.into(),
            personal: self.personal,
            edited: true,
        }
    }

    /// The same value, personal or not: a stored report's JSON carries no flag, its reader
    /// sets it from the field's name and document (`FieldName::personal_on`).
    pub fn with_personal(self, personal: bool) -> FieldValue {
        FieldValue { personal, ..self }
    }

    /// The same value with other text (a masked form of it), keeping its flags.
    pub fn with_text(&self, text: impl Into<String>) -> FieldValue {
        FieldValue {
            text: text.into(),
            ..self.clone()
        }
    }
}

impl fmt::Debug for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.personal {
            write!(f, "FieldValue(<{} 字，已隐藏>)", self.text.chars().count())
        } else {
            write!(f, "FieldValue({:?})", self.text)
        }
    }
}

impl Serialize for FieldValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// Read back as personal data: the report that holds it knows better and says so
/// ([`FieldValue::with_personal`]).
impl<'de> Deserialize<'de> for FieldValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<FieldValue, D::Error> {
        String::deserialize(d).map(FieldValue::personal)
    }
}

/// One extracted field: its value, how sure the recogniser was, and where it is in the image.
/// In JSON `{"value", "confidence", "box"}`, and `"edited": true` for a value a person typed
/// ([`FieldJson`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "FieldJson", from = "FieldJson")]
pub struct Field {
    pub value: FieldValue,
    /// The lowest confidence of the value's letters, digits and ideographs (one doubtful
    /// character is what matters for an identity number), 0–1.
    pub confidence: f32,
    /// The value's box in image coordinates (TL, TR, BR, BL).
    pub quad: Quad,
}

/// A field as the API and the stored reports write it.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Field)]
pub struct FieldJson {
    /// The value read (or typed by a person, then `edited`). Masked in a masked report.
    value: FieldValue,
    /// The lowest confidence of the value's letters, digits and ideographs, 0–1 (1 for a
    /// value a person typed).
    #[serde(default = "full_confidence")]
    confidence: f32,
    /// The value's box in the pixels of its image's page (top-left, top-right, bottom-right,
    /// bottom-left); all zero when it has none.
    #[serde(rename = "box", default)]
    #[schema(value_type = Vec<Vec<f32>>, min_items = 4, max_items = 4)]
    quad: Quad,
    /// A person corrected the value.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    edited: bool,
}

fn full_confidence() -> f32 {
    1.0
}

impl utoipa::PartialSchema for FieldValue {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        String::schema()
    }
}

impl utoipa::ToSchema for FieldValue {}

impl From<Field> for FieldJson {
    fn from(f: Field) -> FieldJson {
        FieldJson {
            edited: f.value.edited,
            value: f.value,
            confidence: f.confidence,
            quad: f.quad,
        }
    }
}

impl From<FieldJson> for Field {
    fn from(f: FieldJson) -> Field {
        Field {
            value: FieldValue {
                edited: f.edited,
                ..f.value
            },
            confidence: f.confidence,
            quad: f.quad,
        }
    }
}

/// One character with its confidence and box.
#[derive(Debug, Clone, Copy)]
struct Glyph {
    ch: char,
    conf: f32,
    quad: Quad,
    line: usize,
}

/// The characters of a page (or a column of it) in reading order.
pub struct Stream {
    glyphs: Vec<Glyph>,
    chars: Vec<char>,
    /// Per glyph, the other characters the recogniser weighed (empty when unknown).
    alternatives: Vec<crate::ocr::recognise::Alternatives>,
}

fn lerp(a: [f32; 2], b: [f32; 2], t: f32) -> [f32; 2] {
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t]
}

/// Axis-aligned bounds of a quad: (min x, min y, max x, max y).
pub fn bounds(q: &Quad) -> (f32, f32, f32, f32) {
    let xs = q.iter().map(|p| p[0]);
    let ys = q.iter().map(|p| p[1]);
    (
        xs.clone().fold(f32::INFINITY, f32::min),
        ys.clone().fold(f32::INFINITY, f32::min),
        xs.fold(f32::NEG_INFINITY, f32::max),
        ys.fold(f32::NEG_INFINITY, f32::max),
    )
}

/// A line's height in pixels: the mean of its left and right edges.
pub fn line_height(q: &Quad) -> f32 {
    let d = |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    (d(q[0], q[3]) + d(q[1], q[2])) / 2.0
}

/// Lines in reading order: grouped into rows (a line joins a row when its vertical centre lies
/// within the row's first line's extent and that line's centre within its own), rows top to
/// bottom, lines left to right. Both ways, so that a line standing taller than its row (an
/// overprint beside a value) does not take in the row below it.
pub fn reading_order<'a>(lines: &[&'a OcrLine]) -> Vec<&'a OcrLine> {
    let mut sorted: Vec<&OcrLine> = lines.to_vec();
    sorted.sort_by(|a, b| {
        let (_, ay, _, ay2) = bounds(&a.quad);
        let (_, by, _, by2) = bounds(&b.quad);
        (ay + ay2).total_cmp(&(by + by2))
    });
    let mut rows: Vec<(f32, f32, Vec<&OcrLine>)> = Vec::new();
    for l in sorted {
        let (_, y0, _, y1) = bounds(&l.quad);
        let c = (y0 + y1) / 2.0;
        match rows.last_mut() {
            Some((top, bottom, row))
                if c > *top
                    && c < *bottom
                    && (*top + *bottom) / 2.0 > y0
                    && (*top + *bottom) / 2.0 < y1 =>
            {
                row.push(l)
            }
            _ => rows.push((y0, y1, vec![l])),
        }
    }
    rows.into_iter()
        .flat_map(|(_, _, mut row)| {
            row.sort_by(|a, b| bounds(&a.quad).0.total_cmp(&bounds(&b.quad).0));
            row
        })
        .collect()
}

impl Stream {
    /// Concatenates lines in the given order, dropping whitespace. Each character's box is its
    /// share of the line's quad (characters taken as equally wide).
    pub fn new(lines: &[&OcrLine]) -> Stream {
        let mut glyphs = Vec::new();
        let mut alternatives = Vec::new();
        for (li, l) in lines.iter().enumerate() {
            let chars: Vec<char> = l.text.chars().collect();
            let n = chars.len().max(1) as f32;
            let [tl, tr, br, bl] = l.quad;
            for (i, &ch) in chars.iter().enumerate() {
                if ch.is_whitespace() {
                    continue;
                }
                let conf = if l.char_confidences.len() == chars.len() {
                    l.char_confidences[i]
                } else {
                    l.confidence
                };
                let (t0, t1) = (i as f32 / n, (i + 1) as f32 / n);
                glyphs.push(Glyph {
                    ch,
                    conf,
                    quad: [
                        lerp(tl, tr, t0),
                        lerp(tl, tr, t1),
                        lerp(bl, br, t1),
                        lerp(bl, br, t0),
                    ],
                    line: li,
                });
                alternatives.push(if l.alternatives.len() == chars.len() {
                    l.alternatives[i].clone()
                } else {
                    Vec::new()
                });
            }
        }
        let chars = glyphs.iter().map(|g| g.ch).collect();
        Stream {
            glyphs,
            chars,
            alternatives,
        }
    }

    /// The recogniser's reading of each character in `range`: the character, its confidence
    /// and the alternatives it weighed.
    pub fn readings(
        &self,
        range: std::ops::Range<usize>,
    ) -> impl Iterator<Item = (char, f32, &crate::ocr::recognise::Alternatives)> {
        self.glyphs[range.clone()]
            .iter()
            .zip(&self.alternatives[range])
            .map(|(g, a)| (g.ch, g.conf, a))
    }

    pub fn len(&self) -> usize {
        self.chars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The characters in `range`.
    pub fn text(&self, range: std::ops::Range<usize>) -> String {
        self.chars[range].iter().collect()
    }

    /// First occurrence of `label` at or after `from`: exact, or — for labels of 4 or more
    /// characters — with one character misread (e.g. 统一社会信用代玛). Returns the char range.
    pub fn find(&self, label: &str, from: usize) -> Option<std::ops::Range<usize>> {
        let l: Vec<char> = label.chars().collect();
        let n = l.len();
        if n == 0 || self.chars.len() < n {
            return None;
        }
        let starts = from..=self.chars.len() - n;
        let exact = starts
            .clone()
            .find(|&s| self.chars[s..s + n] == l[..])
            .map(|s| s..s + n);
        if exact.is_some() || n < 4 {
            return exact;
        }
        starts
            .into_iter()
            .find(|&s| {
                self.chars[s..s + n]
                    .iter()
                    .zip(&l)
                    .filter(|(a, b)| a != b)
                    .count()
                    <= 1
            })
            .map(|s| s..s + n)
    }

    /// A field from the characters in `range` (trimmed of punctuation at either end), with
    /// the value given (already normalised by the caller). `None` if nothing is left.
    pub fn field(&self, range: std::ops::Range<usize>, value: FieldValue) -> Option<Field> {
        let trim = |c: char| matches!(c, ':' | '：' | '.' | '·' | ',' | '，' | '-' | '_');
        let mut r = range;
        while r.start < r.end && trim(self.chars[r.start]) {
            r.start += 1;
        }
        while r.end > r.start && trim(self.chars[r.end - 1]) {
            r.end -= 1;
        }
        if r.is_empty() || value.expose().is_empty() {
            return None;
        }
        let g = &self.glyphs[r.clone()];
        // Punctuation (brackets, commas) scores low without mattering: letters, digits and
        // ideographs decide, unless there are none.
        let content = |g: &&Glyph| g.ch.is_alphanumeric();
        let confidence = if g.iter().any(|x| content(&x)) {
            g.iter()
                .filter(content)
                .map(|g| g.conf)
                .fold(1.0f32, f32::min)
        } else {
            g.iter().map(|g| g.conf).fold(1.0f32, f32::min)
        };
        let quad = if g.iter().all(|x| x.line == g[0].line) {
            let (a, b) = (g[0].quad, g[g.len() - 1].quad);
            [a[0], b[1], b[2], a[3]]
        } else {
            let (mut x0, mut y0, mut x1, mut y1) = bounds(&g[0].quad);
            for x in g {
                let (a, b, c, d) = bounds(&x.quad);
                x0 = x0.min(a);
                y0 = y0.min(b);
                x1 = x1.max(c);
                y1 = y1.max(d);
            }
            [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
        };
        Some(Field {
            value,
            confidence,
            quad,
        })
    }
}

/// Cuts a stream at labels. `labels` lists each field's label alternatives; every label of
/// `stops` (which should include all of `labels`) ends the value before it.
/// Returns, per field, the char range of its value (after its label, up to the next label).
///
/// A label is found as printed, or misread ([`Stream::loose_labels`]): at the start of a line
/// in the column where the page's other labels start, one character read wrong (类雨 for 类型)
/// or dropped (经者 for 经营者) — so a misread label still ends the value before it.
pub fn cut(
    s: &Stream,
    labels: &[(&str, &[&str])],
    stops: &[&str],
) -> Vec<(String, std::ops::Range<usize>)> {
    // Every label occurrence, in stream order: (start, end).
    let mut found: Vec<(usize, usize)> = Vec::new();
    for stop in stops {
        let mut from = 0;
        while let Some(r) = s.find(stop, from) {
            found.push((r.start, r.end));
            from = r.end;
        }
    }
    let loose = s.loose_labels(stops, &found);
    found.extend(loose.iter().map(|(r, _)| (r.start, r.end)));
    found.sort();
    let mut out = Vec::new();
    for (name, alts) in labels {
        // The first occurrence of any alternative, as printed or else misread.
        let hit = alts
            .iter()
            .filter_map(|a| s.find(a, 0))
            .min_by_key(|r| r.start)
            .or_else(|| {
                loose
                    .iter()
                    .filter(|(_, l)| alts.contains(l))
                    .map(|(r, _)| r.clone())
                    .min_by_key(|r| r.start)
            });
        let Some(r) = hit else { continue };
        let end = found
            .iter()
            .filter(|(a, _)| *a >= r.end)
            .map(|(a, _)| *a)
            .min()
            .unwrap_or(s.len());
        out.push(((*name).to_owned(), r.end..end));
    }
    out
}

/// The slips (characters read wrong, left out or added: Levenshtein distance) that make
/// `read` of `label`, when at most one and at least one of the label's characters is read.
fn one_slip(read: &[char], label: &[char]) -> Option<usize> {
    let n = label.len();
    if n < 2 || read.is_empty() || read.len() + 1 < n || read.len() > n + 1 {
        return None;
    }
    let mut prev: Vec<usize> = (0..=n).collect();
    for (i, &r) in read.iter().enumerate() {
        let mut cur = vec![i + 1; n + 1];
        for (j, &l) in label.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(r != l))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    (prev[n] <= 1).then_some(prev[n])
}

impl Stream {
    /// The value in `r` as it wraps: its first line (from `r`'s start), then the lines below
    /// that start left-aligned with it (within a line's height), each starting at most about
    /// a line's height below the one before, with the other pieces of those rows right of the
    /// value's start. It ends at a line starting left of the value (the next label, even one
    /// misread beyond recognition) or at a wider gap (the next field, the seal's or the
    /// footer's area); lines taller than half again the first line's height (an overprint, a
    /// seal, a stamp across the page) and lines between the rows but not aligned with them are
    /// not part of it. Gives the glyphs kept, as a stream of their own.
    pub fn wrapped(&self, r: std::ops::Range<usize>) -> Stream {
        let mut keep: Vec<usize> = Vec::new();
        let mut runs: Vec<std::ops::Range<usize>> = Vec::new();
        for i in r {
            match runs.last_mut() {
                Some(run) if self.glyphs[run.start].line == self.glyphs[i].line => run.end = i + 1,
                _ => runs.push(i..i + 1),
            }
        }
        let Some(first) = runs.first() else {
            return self.select(&keep);
        };
        let geometry = |i: usize| {
            let (x, top, _, bottom) = bounds(&self.glyphs[i].quad);
            (x, top, bottom, line_height(&self.glyphs[i].quad))
        };
        let (mut x0, top, bottom, h) = geometry(first.start);
        // A first line read glued to its label places its characters evenly across the
        // label's letter spacing, so its value's start is not known from it: the first line
        // below starting under it (right of the label's start, left of its end) sets it.
        let line = self.glyphs[first.start].line;
        let glued = (0..first.start)
            .rev()
            .take_while(|&i| self.glyphs[i].line == line)
            .last();
        let mut under = glued.map(|i| {
            let end = bounds(&self.glyphs[first.end - 1].quad).2;
            (bounds(&self.glyphs[i].quad).0 + h, end)
        });
        let mut row = (top, bottom);
        keep.extend(first.clone());
        for run in &runs[1..] {
            let (x, top, bottom, height) = geometry(run.start);
            if height > 1.5 * h {
                continue;
            }
            let centre = (top + bottom) / 2.0;
            if centre > row.0 && centre < row.1 && x >= x0 - h {
                keep.extend(run.clone());
                continue;
            }
            let start = under.map_or(x0, |(from, _)| from);
            if x < start - h || top - row.1 > 1.2 * h {
                break;
            }
            let aligned = match under {
                Some((from, to)) => x >= from && x < to,
                None => (x - x0).abs() <= h,
            };
            if aligned {
                if under.take().is_some() {
                    x0 = x;
                }
                keep.extend(run.clone());
                row = (top, bottom);
            }
        }
        self.select(&keep)
    }

    /// `r` up to the first line in it that stands taller than half again its first line or
    /// starts more than one and a half of that line's height right of where the line before
    /// ended: an overprint read as a line of its own beside a one-line value, on its row
    /// (样本 after a card's 签发机关, read 羊本 or 羊木). A one-line value is printed in one
    /// size without gaps (DOMAIN.md, the card's back).
    pub fn one_line_value(&self, r: std::ops::Range<usize>) -> std::ops::Range<usize> {
        let Some(first) = self.glyphs.get(r.start).filter(|_| !r.is_empty()) else {
            return r;
        };
        let h = line_height(&first.quad);
        let end = (r.start + 1..r.end)
            .find(|&i| {
                let (g, before) = (&self.glyphs[i], &self.glyphs[i - 1]);
                g.line != before.line
                    && (line_height(&g.quad) > 1.5 * h
                        || bounds(&g.quad).0 - bounds(&before.quad).2 > 1.5 * h)
            })
            .unwrap_or(r.end);
        r.start..end
    }

    /// The glyphs in `r` but the lines starting more than one and a half line heights right
    /// of where the last line kept on their row ended: print of one value runs on without
    /// gaps, so a piece standing apart on its row is something else read there (on the card
    /// front, the end of a pen's 仅供…使用，他用无效 beside the address's last line).
    pub fn without_apart(&self, r: std::ops::Range<usize>) -> Stream {
        let mut keep: Vec<usize> = Vec::new();
        let mut i = r.start;
        while i < r.end {
            let line = self.glyphs[i].line;
            let end = (i..r.end)
                .find(|&j| self.glyphs[j].line != line)
                .unwrap_or(r.end);
            let (x, ..) = bounds(&self.glyphs[i].quad);
            let apart = keep.last().is_some_and(|&k| {
                let before = &self.glyphs[k];
                self.same_row(k, i) && x - bounds(&before.quad).2 > 1.5 * line_height(&before.quad)
            });
            if !apart {
                keep.extend(i..end);
            }
            i = end;
        }
        self.select(&keep)
    }

    /// A stream of the glyphs at `indices` (in that order).
    fn select(&self, indices: &[usize]) -> Stream {
        Stream {
            glyphs: indices.iter().map(|&i| self.glyphs[i]).collect(),
            chars: indices.iter().map(|&i| self.chars[i]).collect(),
            alternatives: indices
                .iter()
                .map(|&i| self.alternatives[i].clone())
                .collect(),
        }
    }

    /// Whether glyph `i` begins its line.
    fn starts_line(&self, i: usize) -> bool {
        i == 0 || self.glyphs[i - 1].line != self.glyphs[i].line
    }

    /// Whether glyphs `i` and `j` sit on one row (each one's vertical centre inside the other).
    fn same_row(&self, i: usize, j: usize) -> bool {
        let (_, a0, _, a1) = bounds(&self.glyphs[i].quad);
        let (_, b0, _, b1) = bounds(&self.glyphs[j].quad);
        let (ac, bc) = ((a0 + a1) / 2.0, (b0 + b1) / 2.0);
        ac > b0 && ac < b1 && bc > a0 && bc < a1
    }

    /// Misread labels, found by where they stand: a line starting in a label column (where a
    /// label found as printed also starts its line, within a line's height) whose label part
    /// spells one of `stops` with one slip ([`one_slip`]: 类雨 for 类型, 经者 for 经营者, a
    /// spread 名称 read as 名 alone). The label part is what lies left of the column's values
    /// (where the values after its printed labels begin, on their rows), or, when no value
    /// there shows where, the line's first characters. The page's layout, not a list of
    /// misreadings, says it is a label; two labels fitting alike are left alone.
    pub fn loose_labels<'a>(
        &self,
        stops: &[&'a str],
        found: &[(usize, usize)],
    ) -> Vec<(std::ops::Range<usize>, &'a str)> {
        let left = |i: usize| bounds(&self.glyphs[i].quad).0;
        let height = |i: usize| line_height(&self.glyphs[i].quad);
        // Label columns: where labels found as printed begin their lines, and where the values
        // on their rows begin (the nearest, when known).
        // Also, for a column whose labels were all read glued to their values, where its
        // labels' area ends at least: the furthest a label's last character reaches (a glued
        // line spreads its characters evenly, so its label's share ends before the value).
        let mut columns: Vec<(f32, f32, Option<f32>, f32)> = Vec::new();
        for &(a, b) in found.iter().filter(|(a, _)| self.starts_line(*a)) {
            // Only a value read apart from its label shows where it starts (a line read
            // glued spreads its characters evenly across the label's letter spacing).
            let value =
                (b < self.len() && self.starts_line(b) && self.same_row(a, b)).then(|| left(b));
            let reach = bounds(&self.glyphs[b - 1].quad).2;
            match columns
                .iter_mut()
                .find(|(x, h, _, _)| (left(a) - *x).abs() <= *h)
            {
                Some(c) => {
                    c.2 = match (c.2, value) {
                        (Some(v), Some(w)) => Some(v.min(w)),
                        (v, w) => v.or(w),
                    };
                    c.3 = c.3.max(reach);
                }
                None => columns.push((left(a), height(a), value, reach)),
            }
        }
        let labels: Vec<Vec<char>> = stops.iter().map(|l| l.chars().collect()).collect();
        let longest = labels.iter().map(Vec::len).max().unwrap_or(0);
        let mut out = Vec::new();
        for i in (0..self.len()).filter(|&i| self.starts_line(i)) {
            let taken = |&(a, b): &(usize, usize)| (a..b).contains(&i);
            if found.iter().any(taken)
                || out
                    .iter()
                    .any(|(r, _): &(std::ops::Range<usize>, &str)| taken(&(r.start, r.end)))
            {
                continue;
            }
            // Starting in the column, or inside its labels' area (the second half of a spread
            // label whose first the detector missed: 称 of 名 称, read apart or glued to its
            // value).
            let Some(&(_, _, value, _)) = columns.iter().find(|&&(x, h, value, reach)| {
                (left(i) - x).abs() <= h.max(height(i))
                    || left(i) < value.unwrap_or(reach) - h / 2.0 && left(i) > x
            }) else {
                continue;
            };
            // The one label `read` fits best (labels of the same text, alternatives listed
            // twice, are one label), with its slips.
            let fit = |read: &[char]| -> Option<(usize, usize)> {
                let slips: Vec<(usize, usize)> = (0..labels.len())
                    .filter_map(|k| one_slip(read, &labels[k]).map(|d| (d, k)))
                    .collect();
                let &(d, k) = slips.iter().min()?;
                slips
                    .iter()
                    .all(|&(e, j)| e > d || labels[j] == labels[k])
                    .then_some((d, k))
            };
            let apart = value.and_then(|v| {
                let end = (i..self.len())
                    .take_while(|&j| self.same_row(i, j) && left(j) < v - height(i) / 2.0)
                    .last()
                    .map_or(i, |j| j + 1);
                fit(&self.chars[i..end]).map(|(_, k)| (end - i, k))
            });
            // Glued to its value: the start of the line fitting a label best (the longer on
            // a tie: 类雨 rather than 类 of 类雨有限公司).
            let hit = apart.or_else(|| {
                (1..=longest + 1)
                    .take_while(|&n| {
                        i + n <= self.len() && self.glyphs[i + n - 1].line == self.glyphs[i].line
                    })
                    .filter_map(|n| fit(&self.chars[i..i + n]).map(|(d, k)| (d, n, k)))
                    .min_by_key(|&(d, n, _)| (d, std::cmp::Reverse(n)))
                    .map(|(_, n, k)| (n, k))
            });
            if let Some((n, k)) = hit {
                out.push((i..i + n, stops[k]));
            }
        }
        out
    }
}

/// Characters OCR confuses with digits, mapped to the digit (O/0, I/1, Z/2, S/5, B/8), and
/// full-width digits to ASCII. Other characters are kept.
pub fn digit_like(c: char) -> char {
    match c {
        'O' | 'o' | 'D' | 'Q' | '〇' => '0',
        'I' | 'l' | '|' | 'i' | '!' => '1',
        'Z' | 'z' => '2',
        'S' | 's' => '5',
        'B' => '8',
        '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
        _ => c,
    }
}

/// An identity number in a value: the first 17 digit-like characters followed by a digit or
/// X, after mapping confusable characters (O/0, I/1, Z/2, S/5, B/8, lowercase x). Returns the
/// char index where it starts in `text` (which must hold no whitespace) and the number.
pub fn find_id_number(text: &str) -> Option<(usize, String)> {
    let chars: Vec<char> = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            'x' | '×' | 'Ｘ' => 'X',
            c => digit_like(c),
        })
        .collect();
    (0..(chars.len() + 1).saturating_sub(18)).find_map(|s| {
        let w = &chars[s..s + 18];
        let ok = w[..17].iter().all(char::is_ascii_digit)
            && (w[17].is_ascii_digit() || w[17] == 'X')
            && chars.get(s + 18).is_none_or(|c| !c.is_ascii_digit());
        let before_ok = s == 0 || !chars[s - 1].is_ascii_digit();
        (ok && before_ok).then(|| (s, w.iter().collect()))
    })
}

/// A credit code in a value: the first run of 18 or more letters and digits (ASCII or
/// full-width), its first 18 taken, with the letters GB 32100 excludes mapped to the digits
/// they are confused with (O→0, I→1, Z→2, S→5). Returns the char range in `text` and the code.
pub fn find_credit_code(text: &str) -> Option<(std::ops::Range<usize>, String)> {
    let chars: Vec<char> = text.chars().collect();
    let alnum = |c: char| c.is_ascii_alphanumeric() || ('０'..='９').contains(&c);
    let mut i = 0;
    while i < chars.len() {
        if !alnum(chars[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && alnum(chars[i]) {
            i += 1;
        }
        if i - start >= 18 {
            let code = chars[start..start + 18]
                .iter()
                .map(|&c| match c.to_ascii_uppercase() {
                    'O' => '0',
                    'I' => '1',
                    'Z' => '2',
                    'S' => '5',
                    c @ '０'..='９' => digit_like(c),
                    c => c,
                })
                .collect();
            return Some((start..start + 18, code));
        }
    }
    None
}

/// A date written 2015年03月01日, 2015.03.01, 2015-3-1 or 20150301 (with confusable digits), as
/// the date and the char length consumed in `text` (from its start to the end of the date).
pub fn find_date(text: &str) -> Option<(NaiveDate, usize)> {
    let chars: Vec<char> = text.chars().map(digit_like).collect();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // Read up to three digit groups separated by at most three non-digits each.
        let mut groups: Vec<String> = Vec::new();
        let mut j = i;
        let mut end = i;
        while groups.len() < 3 && j < chars.len() {
            let start = j;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            if j == start {
                break;
            }
            groups.push(chars[start..j].iter().collect());
            end = j;
            // A trailing 日 belongs to the date.
            let mut k = j;
            while k < chars.len() && k - j < 3 && !chars[k].is_ascii_digit() {
                if groups.len() == 3 && chars[k] == '日' {
                    end = k + 1;
                }
                k += 1;
            }
            if groups.len() < 3 && k - j > 0 && k < chars.len() && chars[k].is_ascii_digit() {
                j = k;
            } else {
                break;
            }
        }
        let ymd = match groups.as_slice() {
            [y, m, d] if y.len() == 4 && m.len() <= 2 && d.len() <= 2 => {
                Some((y.parse().ok(), m.parse().ok(), d.parse().ok()))
            }
            [g] if g.len() == 8 => Some((
                g[..4].parse().ok(),
                g[4..6].parse().ok(),
                g[6..].parse().ok(),
            )),
            _ => None,
        };
        if let Some((Some(y), Some(m), Some(d))) = ymd
            && let Some(date) = NaiveDate::from_ymd_opt(y, m, d)
        {
            if groups.len() == 3 && end < chars.len() && chars[end] == '日' {
                end += 1;
            }
            return Some((date, end));
        }
        i = j.max(i + 1);
    }
    None
}

/// Text fields: no whitespace, ASCII brackets and colons as printed (full-width).
pub fn clean_text(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '(' => '（',
            ')' => '）',
            ':' => '：',
            ',' => '，',
            ';' => '；',
            c => c,
        })
        .collect()
}

/// Whether a character is a CJK ideograph (or the middle dot of minority names).
pub fn is_cjk(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c) || ('\u{3400}'..='\u{4dbf}').contains(&c) || c == '·'
}

/// Printed boilerplate and the specimen watermark, never part of a value.
pub fn is_boilerplate(text: &str) -> bool {
    let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    matches!(
        t.as_str(),
        "样本" | "SAMPLE" | "（副本）" | "(副本)" | "（正本）" | "(正本)" | "副本" | "正本"
    ) || t.contains("国家企业信用信息公示系统")
        || t.contains("监制")
        || t.contains("年度报告")
        || t.contains("扫描二维码")
        || is_template_fragment(&t)
        || is_purpose_overprint(&t)
}

/// What the 2019 licence template prints beside the fields (DOMAIN.md, "What else the 2019
/// template prints"): the QR code's caption and the footer, which wrap into pieces.
const TEMPLATE_TEXT: [&str; 3] = [
    "扫描二维码登录“国家企业信用信息公示系统”了解更多登记、备案、许可、监管信息",
    "国家企业信用信息公示系统网址：http://www.gsxt.gov.cn",
    "市场主体应当于每年1月1日至6月30日通过国家企业信用信息公示系统报送公示年度报告",
];

/// A wrapped piece of the caption or footer (four characters or more of it, or its marks).
fn is_template_fragment(t: &str) -> bool {
    let plain = |s: &str| -> String { s.chars().filter(|c| !"“”\"'".contains(*c)).collect() };
    let p = plain(t);
    (p.chars().count() >= 4 && TEMPLATE_TEXT.iter().any(|x| plain(x).contains(&p)))
        || [
            "了解更多",
            "备案、许可",
            "监管信息",
            "gsxt",
            "信用信息公示",
            "公示系统",
        ]
        .iter()
        .any(|m| t.contains(m))
}

/// The fewest edits (insert, delete, replace a character) that turn `needle` into some run of
/// `hay` (approximate search: the run may start and end anywhere in `hay`).
fn edits_to_within(needle: &[char], hay: &[char]) -> usize {
    // prev[j]: the fewest edits turning the needle's first i characters into a run ending at j.
    let mut prev = vec![0usize; hay.len() + 1];
    for (i, &n) in needle.iter().enumerate() {
        let mut cur = vec![i + 1; hay.len() + 1];
        for (j, &h) in hay.iter().enumerate() {
            let replace = prev[j] + usize::from(n != h);
            cur[j + 1] = replace.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev.into_iter().min().unwrap_or(needle.len())
}

/// How many characters at the end of a line are the QR caption or the footer as the
/// recogniser reads them — with slips (扫楼二维码…, 信用优息…): the longest tail of at least five
/// characters within one edit in four of a run of that text. A field's line the detector ran
/// into the caption beside it (…解放路212号2层扫描二维码登录“国家企) keeps its start; a line
/// that is all caption is all tail.
pub fn template_tail(text: &str) -> usize {
    let keep = |c: &char| !c.is_whitespace() && !"“”\"'".contains(*c);
    let chars: Vec<char> = text.chars().collect();
    let templates: Vec<Vec<char>> = TEMPLATE_TEXT
        .iter()
        .map(|t| t.chars().filter(keep).collect())
        .collect();
    // Of the tails close enough, the one whose length outweighs twice its edits most (the
    // earliest on a tie), starting on a character of the text it matches: a field's last
    // characters before the caption are extra, not slips.
    let mut best: Option<(i64, usize)> = None;
    for start in 0..chars.len() {
        let tail: Vec<char> = chars[start..].iter().copied().filter(keep).collect();
        if tail.len() < 5 {
            break;
        }
        // Counted without digits: a date (2023年01月31日) is close to the footer's
        // 1月1日至6月30日 by its digits alone.
        let words = tail.iter().filter(|c| !c.is_ascii_digit()).count();
        if words < 5 {
            continue;
        }
        for t in &templates {
            let d = edits_to_within(&tail, t);
            let score = 2 * d as i64 - tail.len() as i64;
            if 4 * d <= words && t.contains(&tail[0]) && best.is_none_or(|(b, _)| score < b) {
                best = Some((score, chars.len() - start));
            }
        }
    }
    best.map_or(0, |(_, n)| n)
}

/// The holder's own 仅供办理XX使用，他用无效 written or stamped across a copy, or its end read
/// as a line of its own (用无效, 无效, 地用无效 for a misread 他): on a card the stamp runs on
/// over the portrait, where its ink is not told from the photo's grey, and that piece was taken
/// into the address beside it.
fn is_purpose_overprint(t: &str) -> bool {
    let bare: String = t.chars().filter(|c| is_cjk(*c)).collect();
    t.contains("他用无效")
        || (t.starts_with("仅供") && t.contains("使用"))
        || (bare.chars().count() <= 4 && (bare.ends_with("用无效") || bare == "无效"))
}

#[cfg(test)]
mod tests {
    use super::super::page::line_at;
    use super::*;

    #[test]
    fn personal_values_never_show_in_debug() {
        let f = Field {
            value: FieldValue::personal("张三丰"),
            confidence: 0.9,
            quad: [[0.0; 2]; 4],
        };
        let shown = format!("{f:?} {:#?}", Some(&f));
        assert!(!shown.contains("张三丰"), "{shown}");
        assert!(shown.contains("3 字"));
        assert!(format!("{:?}", FieldValue::public("示例市")).contains("示例市"));
        assert_eq!(serde_json::to_string(&f.value).unwrap(), "\"张三丰\"");
    }

    #[test]
    fn reading_order_is_rows_then_columns() {
        let b = line_at("民族汉", 0.9, 200.0, 52.0, 80.0, 20.0);
        let a = line_at("性别男", 0.9, 10.0, 50.0, 80.0, 20.0);
        let c = line_at("姓名张三", 0.9, 10.0, 10.0, 120.0, 20.0);
        let order: Vec<&str> = reading_order(&[&b, &a, &c])
            .iter()
            .map(|l| l.text.as_str())
            .collect();
        assert_eq!(order, ["姓名张三", "性别男", "民族汉"]);
    }

    #[test]
    fn label_glued_to_value_is_cut_and_boxed() {
        let l = line_at("姓名张三", 0.9, 0.0, 0.0, 80.0, 20.0);
        let s = Stream::new(&[&l]);
        let cuts = cut(&s, &[("name", &["姓名"])], &["姓名", "性别"]);
        assert_eq!(cuts[0].1, 2..4);
        let f = s
            .field(cuts[0].1.clone(), FieldValue::personal(s.text(2..4)))
            .unwrap();
        assert_eq!(f.quad[0], [40.0, 0.0]);
        assert_eq!(f.quad[2], [80.0, 20.0]);
    }

    #[test]
    fn long_labels_tolerate_one_misread_character() {
        let l = line_at(
            "统一社会信用代玛91350100M000100Y43",
            0.9,
            0.0,
            0.0,
            300.0,
            20.0,
        );
        let s = Stream::new(&[&l]);
        assert_eq!(s.find("统一社会信用代码", 0), Some(0..8));
        // Two-character labels must match exactly.
        assert_eq!(s.find("代码", 0), None);
    }

    #[test]
    fn one_slip_is_one_character_wrong_missing_or_added() {
        let c = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(one_slip(&c("类雨"), &c("类型")), Some(1));
        assert_eq!(one_slip(&c("经者"), &c("经营者")), Some(1));
        assert_eq!(one_slip(&c("名"), &c("名称")), Some(1));
        assert_eq!(one_slip(&c("经？营场所"), &c("经营场所")), Some(1));
        assert_eq!(one_slip(&c("住所"), &c("住所")), Some(0));
        assert_eq!(one_slip(&c("雨"), &c("类型")), None);
        assert_eq!(one_slip(&c("经者"), &c("经营范围")), None);
        assert_eq!(one_slip(&c("类雨有"), &c("类型")), None);
    }

    #[test]
    fn confusable_characters_in_numbers() {
        assert_eq!(
            find_id_number("公民身份号码11O1O5I99OO3O7OOZx"),
            Some((6, "11010519900307002X".to_owned()))
        );
        assert_eq!(find_id_number("1234567"), None);
        // Nineteen digits are not an identity number.
        assert_eq!(find_id_number("1101051990030700231"), None);
        assert_eq!(
            find_credit_code("代码9I35O1OOMAOOO1OOY4名称"),
            Some((2..20, "91350100MA000100Y4".to_owned()))
        );
    }

    // DOMAIN.md "What else the 2019 template prints": the QR caption, read with slips and run
    // into the field beside it, is set aside; field text is not.
    #[test]
    fn caption_tails_with_slips() {
        assert_eq!(template_tail("扫楼二维码登录“国家企"), 11);
        assert_eq!(template_tail("业信用优息公示系统”了"), 11);
        let line = "示例市西湖区解放路212号2层扫描二维码登录“国家企";
        assert_eq!(template_tail(line), line.chars().count() - 15);
        assert_eq!(template_tail("示例市西湖区解放路212号2层"), 0);
        assert_eq!(template_tail("日用百货销售；五金产品零售；"), 0);
        assert_eq!(template_tail("成立日期2023年01月31日"), 0);
        assert_eq!(template_tail("2023年01月31日至2053年01月30日"), 0);
    }

    #[test]
    fn dates_in_the_ways_cards_print_them() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        assert_eq!(find_date("1990年3月7日").unwrap().0, d(1990, 3, 7));
        assert_eq!(find_date("1990 年 03 月 07 日").unwrap().0, d(1990, 3, 7));
        assert_eq!(
            find_date("2015.03.01-2035.03.01").unwrap(),
            (d(2015, 3, 1), 10)
        );
        assert_eq!(find_date("2015.O3.0I").unwrap().0, d(2015, 3, 1));
        assert_eq!(find_date("20150301").unwrap().0, d(2015, 3, 1));
        assert_eq!(find_date("2015年02月30日"), None);
        assert_eq!(find_date("长期"), None);
    }
}
