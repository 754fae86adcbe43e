//! Text detection (PP-OCR DB): pre-processing into the detector's input and the standard DB
//! post-processing of its probability map into text boxes. No model code: the engine runs the
//! session between [`input`] and [`boxes`].

use image::RgbImage;

use crate::photo::geometry::{self, Point};

use super::Quad;

/// DB post-processing parameters (PaddleOCR's defaults; RapidOCR uses a box threshold of 0.5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetParams {
    /// The image's longest side is scaled down to at most this, then both sides are rounded
    /// to multiples of 32.
    pub limit_side: u32,
    /// A page whose shorter side is below this is enlarged until it reaches it (its longer
    /// side then at most [`MAX_SIDE`]); 0, the default, enlarges nothing. RapidOCR enlarges to
    /// 736 always; here it is the second look [`SECOND_LOOK_MIN_SIDE`] only (see there).
    pub min_side: u32,
    /// Probability above which a pixel of the map is text.
    pub thresh: f32,
    /// Mean probability inside a box below which the box is dropped.
    pub box_thresh: f32,
    /// Boxes grow by `area × unclip_ratio / perimeter` on every side.
    pub unclip_ratio: f32,
    /// Boxes whose shorter side is below this (in map pixels) are dropped.
    pub min_size: f32,
    /// At most this many connected regions are considered.
    pub max_candidates: usize,
}

impl Default for DetParams {
    fn default() -> Self {
        DetParams {
            limit_side: 960,
            min_side: 0,
            thresh: 0.3,
            box_thresh: 0.6,
            unclip_ratio: 1.6,
            min_size: 3.0,
            max_candidates: 1000,
        }
    }
}

/// The detector's input: NCHW, BGR, `(x / 255 − 0.5) / 0.5`, sides multiples of 32.
pub struct DetInput {
    pub data: Vec<f32>,
    pub width: u32,
    pub height: u32,
}

/// The short side a page is enlarged to for a second look (RapidOCR's default minimum). On a
/// card page read at 864 × 544 the detector found no box for a lone one-character value (性别
/// 男, 民族 白) on 13 of 200 clean specimen fronts; enlarged to a 736 px short side it finds
/// them. Enlarging every page costs about 1.8× the detector's pixels on a card, and on the
/// suite's dark card back it misread the validity dates, so only a page that needs it gets it
/// (`verify::Verifier`: a card front missing its sex or ethnicity).
pub const SECOND_LOOK_MIN_SIDE: u32 = 736;

/// The longest side an enlarged page may reach (RapidOCR's `max_side_len`).
pub const MAX_SIDE: u32 = 2000;

/// The input size for an image: longest side at most `limit_side`, then — for a small page —
/// enlarged so that the shorter side reaches `min_side` (the longer one at most
/// [`MAX_SIDE`] before rounding); both sides multiples of 32 (at least 32).
pub fn input_size(w: u32, h: u32, limit_side: u32, min_side: u32) -> (u32, u32) {
    let (long, short) = (w.max(h) as f32, w.min(h).max(1) as f32);
    let mut ratio = if long > limit_side as f32 {
        limit_side as f32 / long
    } else {
        1.0
    };
    if short * ratio < min_side as f32 {
        ratio = (min_side as f32 / short).min((MAX_SIDE as f32 / long).max(ratio));
    }
    let round32 = |v: f32| (((v / 32.0).round() as u32) * 32).max(32);
    (round32(w as f32 * ratio), round32(h as f32 * ratio))
}

/// Resizes (averaging first when shrinking by 2× or more, then bilinear) and normalises.
pub fn input(img: &RgbImage, limit_side: u32, min_side: u32) -> DetInput {
    let (w, h) = img.dimensions();
    let (rw, rh) = input_size(w, h, limit_side, min_side);
    let factor = (w / rw).min(h / rh);
    let src = if factor >= 2 {
        geometry::box_downscale(img, factor)
    } else {
        img.clone()
    };
    let (sw, sh) = src.dimensions();
    let plane = (rw * rh) as usize;
    let mut data = vec![0f32; plane * 3];
    let sx = sw as f32 / rw as f32;
    let sy = sh as f32 / rh as f32;
    for y in 0..rh {
        let fy = ((y as f32 + 0.5) * sy - 0.5).max(0.0);
        for x in 0..rw {
            let fx = ((x as f32 + 0.5) * sx - 0.5).max(0.0);
            let v = geometry::sample(&src, fx, fy);
            let i = (y * rw + x) as usize;
            // BGR planes.
            data[i] = v[2] / 127.5 - 1.0;
            data[plane + i] = v[1] / 127.5 - 1.0;
            data[2 * plane + i] = v[0] / 127.5 - 1.0;
        }
    }
    DetInput {
        data,
        width: rw,
        height: rh,
    }
}

/// DB post-processing: binarise `pred` (a `map_w × map_h` probability map) at `thresh`, take
/// each 8-connected region's minimum-area rectangle, score it by the mean probability inside,
/// unclip it, and scale it to `dest_w × dest_h`. Boxes are clockwise from the top-left.
pub fn boxes(
    pred: &[f32],
    map_w: u32,
    map_h: u32,
    dest_w: u32,
    dest_h: u32,
    p: &DetParams,
) -> Vec<(Quad, f32)> {
    let (w, h) = (map_w as usize, map_h as usize);
    let bitmap: Vec<bool> = pred.iter().map(|&v| v > p.thresh).collect();
    let mut seen = vec![false; bitmap.len()];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    let mut candidates = 0;
    for start in 0..bitmap.len() {
        if !bitmap[start] || seen[start] {
            continue;
        }
        candidates += 1;
        if candidates > p.max_candidates {
            break;
        }
        // Boundary pixels of this 8-connected region.
        let mut edge: Vec<Point> = Vec::new();
        seen[start] = true;
        stack.push(start);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            let inside = |xx: isize, yy: isize| {
                xx >= 0
                    && yy >= 0
                    && (xx as usize) < w
                    && (yy as usize) < h
                    && bitmap[yy as usize * w + xx as usize]
            };
            let (xi, yi) = (x as isize, y as isize);
            if !(inside(xi - 1, yi)
                && inside(xi + 1, yi)
                && inside(xi, yi - 1)
                && inside(xi, yi + 1))
            {
                edge.push([x as f32, y as f32]);
            }
            for dy in -1isize..=1 {
                for dx in -1isize..=1 {
                    if (dx != 0 || dy != 0) && inside(xi + dx, yi + dy) {
                        let j = (yi + dy) as usize * w + (xi + dx) as usize;
                        if !seen[j] {
                            seen[j] = true;
                            stack.push(j);
                        }
                    }
                }
            }
        }
        if let Some(found) = region_box(&edge, pred, w, h, p) {
            let scaled = found.0.map(|pt| {
                [
                    (pt[0] / map_w as f32 * dest_w as f32).clamp(0.0, dest_w as f32),
                    (pt[1] / map_h as f32 * dest_h as f32).clamp(0.0, dest_h as f32),
                ]
            });
            let side = |a: Point, b: Point| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
            if side(scaled[0], scaled[1]) <= 3.0 || side(scaled[0], scaled[3]) <= 3.0 {
                continue;
            }
            out.push((scaled, found.1));
        }
    }
    out
}

/// One region's box in map coordinates and its score, or `None` when too small or too faint.
fn region_box(
    edge: &[Point],
    pred: &[f32],
    w: usize,
    h: usize,
    p: &DetParams,
) -> Option<(Quad, f32)> {
    if edge.len() < 4 {
        return None;
    }
    let (rect, rw, rh) = geometry::min_area_rect(edge);
    if rw.min(rh) < p.min_size {
        return None;
    }
    let quad = geometry::order_box(rect);
    let score = box_score(pred, w, h, &quad);
    if score < p.box_thresh {
        return None;
    }
    let grown = geometry::unclip(&quad, p.unclip_ratio);
    let (rect, rw, rh) = geometry::min_area_rect(&grown);
    if rw.min(rh) < p.min_size + 2.0 {
        return None;
    }
    Some((geometry::order_box(rect), score))
}

/// Mean of `pred` over the pixels whose centres lie inside the convex `quad`.
pub fn box_score(pred: &[f32], w: usize, h: usize, quad: &Quad) -> f32 {
    let xs = quad.iter().map(|q| q[0]);
    let ys = quad.iter().map(|q| q[1]);
    let x0 = xs.clone().fold(f32::MAX, f32::min).floor().max(0.0) as usize;
    let x1 = (xs.fold(f32::MIN, f32::max).ceil() as usize).min(w - 1);
    let y0 = ys.clone().fold(f32::MAX, f32::min).floor().max(0.0) as usize;
    let y1 = (ys.fold(f32::MIN, f32::max).ceil() as usize).min(h - 1);
    let (mut sum, mut n) = (0f32, 0u32);
    for y in y0..=y1 {
        for x in x0..=x1 {
            if inside_convex(quad, [x as f32, y as f32]) {
                sum += pred[y * w + x];
                n += 1;
            }
        }
    }
    if n == 0 {
        // A degenerate (line-thin) box: score its corners' pixels.
        let v: Vec<f32> = quad
            .iter()
            .map(|q| {
                pred[(q[1].round() as usize).min(h - 1) * w + (q[0].round() as usize).min(w - 1)]
            })
            .collect();
        return v.iter().sum::<f32>() / v.len() as f32;
    }
    sum / n as f32
}

fn inside_convex(q: &Quad, p: Point) -> bool {
    let mut sign = 0f32;
    for i in 0..4 {
        let (a, b) = (q[i], q[(i + 1) % 4]);
        let c = (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]);
        if c.abs() < 1e-6 {
            continue;
        }
        if sign == 0.0 {
            sign = c.signum();
        } else if c.signum() != sign {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_sides_are_multiples_of_32_and_limited() {
        assert_eq!(input_size(1920, 1080, 960, 0), (960, 544));
        assert_eq!(input_size(500, 300, 960, 0), (512, 288));
        assert_eq!(input_size(10, 10, 960, 0), (32, 32));
    }

    #[test]
    fn small_pages_are_enlarged_to_the_minimum_short_side() {
        // A card page: the long side first limited to 960, then the short side raised to 736.
        assert_eq!(input_size(864, 544, 960, 736), (1184, 736));
        assert_eq!(input_size(1072, 676, 960, 736), (1152, 736));
        assert_eq!(input_size(500, 300, 960, 736), (1216, 736));
        // A page already large enough is only limited.
        assert_eq!(input_size(1920, 1440, 960, 736), (992, 736));
        assert_eq!(input_size(1920, 1080, 960, 736), (1312, 736));
        assert_eq!(input_size(2000, 1600, 960, 500), (960, 768));
        // A long strip: the long side stops at MAX_SIDE.
        assert_eq!(input_size(1000, 100, 960, 736), (2016, 192));
    }

    #[test]
    fn a_text_blob_becomes_one_unclipped_box() {
        // A 64 × 32 map with a 40 × 8 block of high probability at (10, 12).
        let (w, h) = (64usize, 32usize);
        let mut pred = vec![0.0f32; w * h];
        for y in 12..20 {
            for x in 10..50 {
                pred[y * w + x] = 0.9;
            }
        }
        let found = boxes(&pred, 64, 32, 128, 64, &DetParams::default());
        assert_eq!(found.len(), 1);
        let (q, score) = found[0];
        assert!(score > 0.85);
        // Region centres span 39 × 7; unclip adds 273 × 1.6 / 92 ≈ 4.75 per side, and the map
        // is scaled by 2 to the destination.
        let width = q[1][0] - q[0][0];
        let height = q[3][1] - q[0][1];
        assert!((width - 2.0 * (39.0 + 9.5)).abs() < 1.0, "{q:?}");
        assert!((height - 2.0 * (7.0 + 9.5)).abs() < 1.0, "{q:?}");
        assert!(q[0][0] < q[1][0] && q[0][1] < q[3][1]);
    }

    #[test]
    fn faint_and_tiny_regions_are_dropped() {
        let (w, h) = (64usize, 32usize);
        let mut pred = vec![0.0f32; w * h];
        for y in 5..15 {
            for x in 5..40 {
                pred[y * w + x] = 0.4; // above thresh 0.3 but below box_thresh 0.6
            }
        }
        pred[25 * w + 50] = 0.99; // one pixel
        assert!(boxes(&pred, 64, 32, 64, 32, &DetParams::default()).is_empty());
    }
}
