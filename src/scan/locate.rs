//! Finding the card or page in a photo and cutting it out square-on.
//!
//! The photo is shrunk to at most [`WORK_SIDE`] pixels on its longest side. Three masks are
//! tried: pixels whose colour differs from the photo's border (the table or hand around the
//! card), and the bright and the dark side of an Otsu threshold on grey levels. Each mask is
//! opened (to cut thin bridges to clutter), its holes are filled (the printed text), and every
//! large connected region becomes a candidate: its convex hull is reduced to the enclosing
//! quadrilateral that adds the least area. A candidate counts when the quadrilateral is well
//! filled by the region, is convex with no very sharp corner, covers 8–97 % of the photo and
//! does not sit on three or more borders (then the photo already is the document). The largest
//! one wins. Its corners are scaled back to the photo and the quadrilateral is warped onto a
//! rectangle whose sides are the quad's longest opposite sides.

use image::RgbImage;

use super::geometry::{self, Point, Quad};

/// Longest side of the working copy used to look for the document.
pub const WORK_SIDE: u32 = 512;

/// Where the document was found in the photo, and how sure the finder is (how well the
/// region fills the quadrilateral, 0–1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Found {
    pub quad: Quad,
    pub fill: f32,
}

/// Looks for one dominant quadrilateral document in `img`. `None` when nothing convincing
/// stands out from the background, or when the document fills the whole photo already.
pub fn find_document(img: &RgbImage) -> Option<Found> {
    let (w, h) = img.dimensions();
    if w < 16 || h < 16 {
        return None;
    }
    let factor = (w.max(h)).div_ceil(WORK_SIDE).max(1);
    let small = geometry::box_downscale(img, factor);
    let (sw, sh) = small.dimensions();
    let gray: Vec<u8> = small
        .pixels()
        .map(|p| ((p[0] as u32 * 299 + p[1] as u32 * 587 + p[2] as u32 * 114) / 1000) as u8)
        .collect();
    let gray = blur3(&gray, sw, sh);

    let mut masks = Vec::new();
    masks.push(border_difference_mask(&small));
    let t = otsu(&gray);
    masks.push(gray.iter().map(|&g| g > t).collect::<Vec<bool>>());
    masks.push(gray.iter().map(|&g| g <= t).collect::<Vec<bool>>());

    let mut best: Option<(f32, Found)> = None;
    for mask in masks {
        let mask = open(&mask, sw, sh, 2);
        let mask = fill_holes(&mask, sw, sh);
        for region in regions(&mask, sw, sh) {
            if let Some((area, found)) = judge(&region, sw, sh)
                && best.as_ref().is_none_or(|(a, _)| area > *a)
            {
                best = Some((area, found));
            }
        }
    }
    let (_, found) = best?;
    let s = factor as f32;
    let quad = found.quad.map(|p| {
        [
            ((p[0] + 0.5) * s - 0.5).clamp(0.0, (w - 1) as f32),
            ((p[1] + 0.5) * s - 0.5).clamp(0.0, (h - 1) as f32),
        ]
    });
    Some(Found {
        quad,
        fill: found.fill,
    })
}

/// Warps the quadrilateral of `img` onto an upright rectangle, sized by the quad's longer
/// opposite sides.
pub fn rectify(img: &RgbImage, quad: &Quad) -> RgbImage {
    let d = |a: Point, b: Point| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    let w = d(quad[0], quad[1]).max(d(quad[3], quad[2])).round() as u32;
    let h = d(quad[0], quad[3]).max(d(quad[1], quad[2])).round() as u32;
    geometry::warp_quad(img, quad, w.max(8), h.max(8))
}

/// A region's pixel count and, per row, its leftmost and rightmost pixel.
struct Region {
    pixels: u32,
    rows: Vec<(u32, u32, u32)>,
    touches: [bool; 4],
}

fn judge(r: &Region, w: u32, h: u32) -> Option<(f32, Found)> {
    let total = (w * h) as f32;
    let px = r.pixels as f32;
    if px < 0.08 * total || px > 0.97 * total {
        return None;
    }
    if r.touches.iter().filter(|&&t| t).count() >= 3 {
        return None;
    }
    let mut pts: Vec<Point> = Vec::with_capacity(r.rows.len() * 2);
    for &(y, x0, x1) in &r.rows {
        // Pixel edges, not centres, so the quad encloses the region.
        pts.push([x0 as f32 - 0.5, y as f32 - 0.5]);
        pts.push([x0 as f32 - 0.5, y as f32 + 0.5]);
        pts.push([x1 as f32 + 0.5, y as f32 - 0.5]);
        pts.push([x1 as f32 + 0.5, y as f32 + 0.5]);
    }
    let hull = geometry::convex_hull(&pts);
    let quad = geometry::order_clockwise(geometry::reduce_to_quad(&hull)?);
    let qa = geometry::polygon_area(&quad);
    if qa <= 0.0 || qa > 0.97 * total {
        return None;
    }
    let fill = px / qa;
    let hull_fit = geometry::polygon_area(&hull) / qa;
    if fill < 0.85 || hull_fit < 0.93 {
        return None;
    }
    // Convex, no corner sharper than 40° or flatter than 140°.
    for i in 0..4 {
        let (a, b, c) = (quad[(i + 3) % 4], quad[i], quad[(i + 1) % 4]);
        let (u, v) = ([a[0] - b[0], a[1] - b[1]], [c[0] - b[0], c[1] - b[1]]);
        let cos = (u[0] * v[0] + u[1] * v[1])
            / ((u[0].hypot(u[1])) * (v[0].hypot(v[1]))).max(f32::EPSILON);
        if cos.abs() > 40f32.to_radians().cos() {
            return None;
        }
    }
    Some((
        px,
        Found {
            quad,
            fill: fill.min(1.0),
        },
    ))
}

/// Pixels whose colour is far from the median colour of the photo's border.
fn border_difference_mask(img: &RgbImage) -> Vec<bool> {
    let (w, h) = img.dimensions();
    let mut border: [Vec<u8>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let mut push = |x: u32, y: u32| {
        let p = img.get_pixel(x, y);
        for c in 0..3 {
            border[c].push(p[c]);
        }
    };
    for x in 0..w {
        push(x, 0);
        push(x, h - 1);
    }
    for y in 0..h {
        push(0, y);
        push(w - 1, y);
    }
    let med: Vec<f32> = border
        .iter_mut()
        .map(|v| {
            v.sort_unstable();
            v[v.len() / 2] as f32
        })
        .collect();
    let dist: Vec<u8> = img
        .pixels()
        .map(|p| {
            let d = (0..3)
                .map(|c| (p[c] as f32 - med[c]).powi(2))
                .sum::<f32>()
                .sqrt();
            d.min(255.0) as u8
        })
        .collect();
    let dist = blur3(&dist, w, h);
    let t = otsu(&dist).max(24);
    dist.iter().map(|&d| d > t).collect()
}

/// 3 × 3 box blur, edges clamped.
fn blur3(v: &[u8], w: u32, h: u32) -> Vec<u8> {
    let (w, h) = (w as i64, h as i64);
    let at = |x: i64, y: i64| v[(y.clamp(0, h - 1) * w + x.clamp(0, w - 1)) as usize] as u32;
    let mut out = vec![0u8; v.len()];
    for y in 0..h {
        for x in 0..w {
            let mut s = 0;
            for dy in -1..=1 {
                for dx in -1..=1 {
                    s += at(x + dx, y + dy);
                }
            }
            out[(y * w + x) as usize] = (s / 9) as u8;
        }
    }
    out
}

/// Otsu's threshold: the level that best separates the histogram into two classes.
pub fn otsu(v: &[u8]) -> u8 {
    let mut hist = [0u64; 256];
    for &x in v {
        hist[x as usize] += 1;
    }
    let total = v.len() as f64;
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, &c)| i as f64 * c as f64)
        .sum();
    let (mut w0, mut sum0, mut best, mut best_t) = (0f64, 0f64, -1f64, 0u8);
    for (t, &c) in hist.iter().enumerate() {
        w0 += c as f64;
        if w0 == 0.0 {
            continue;
        }
        let w1 = total - w0;
        if w1 == 0.0 {
            break;
        }
        sum0 += t as f64 * c as f64;
        let (m0, m1) = (sum0 / w0, (sum_all - sum0) / w1);
        let between = w0 * w1 * (m0 - m1).powi(2);
        if between > best {
            best = between;
            best_t = t as u8;
        }
    }
    best_t
}

/// Morphological opening with a square of radius `r` (erode, then dilate).
fn open(m: &[bool], w: u32, h: u32, r: i64) -> Vec<bool> {
    let eroded = morph(m, w, h, r, true);
    morph(&eroded, w, h, r, false)
}

fn morph(m: &[bool], w: u32, h: u32, r: i64, erode: bool) -> Vec<bool> {
    let (w, h) = (w as i64, h as i64);
    // Separable: rows, then columns.
    let pass = |src: &[bool], horizontal: bool| -> Vec<bool> {
        let mut out = vec![false; src.len()];
        for y in 0..h {
            for x in 0..w {
                let mut acc = erode;
                for d in -r..=r {
                    let (xx, yy) = if horizontal { (x + d, y) } else { (x, y + d) };
                    let v = if xx < 0 || yy < 0 || xx >= w || yy >= h {
                        erode // outside counts as neutral
                    } else {
                        src[(yy * w + xx) as usize]
                    };
                    if erode {
                        acc &= v;
                    } else {
                        acc |= v;
                    }
                }
                out[(y * w + x) as usize] = acc;
            }
        }
        out
    };
    let a = pass(m, true);
    pass(&a, false)
}

/// Sets every background pixel that cannot reach the border through background.
fn fill_holes(m: &[bool], w: u32, h: u32) -> Vec<bool> {
    let (wu, hu) = (w as usize, h as usize);
    let mut outside = vec![false; m.len()];
    let mut stack = Vec::new();
    for x in 0..wu {
        stack.push(x);
        stack.push((hu - 1) * wu + x);
    }
    for y in 0..hu {
        stack.push(y * wu);
        stack.push(y * wu + wu - 1);
    }
    while let Some(i) = stack.pop() {
        if m[i] || outside[i] {
            continue;
        }
        outside[i] = true;
        let (x, y) = (i % wu, i / wu);
        if x > 0 {
            stack.push(i - 1);
        }
        if x + 1 < wu {
            stack.push(i + 1);
        }
        if y > 0 {
            stack.push(i - wu);
        }
        if y + 1 < hu {
            stack.push(i + wu);
        }
    }
    outside.iter().map(|&o| !o).collect()
}

/// 4-connected regions of set pixels, each with its per-row extent.
fn regions(m: &[bool], w: u32, h: u32) -> Vec<Region> {
    let (wu, hu) = (w as usize, h as usize);
    let mut seen = vec![false; m.len()];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..m.len() {
        if !m[start] || seen[start] {
            continue;
        }
        let mut extent: std::collections::BTreeMap<u32, (u32, u32)> = Default::default();
        let mut pixels = 0u32;
        let mut touches = [false; 4];
        seen[start] = true;
        stack.push(start);
        while let Some(i) = stack.pop() {
            pixels += 1;
            let (x, y) = (i % wu, i / wu);
            let e = extent.entry(y as u32).or_insert((x as u32, x as u32));
            e.0 = e.0.min(x as u32);
            e.1 = e.1.max(x as u32);
            touches[0] |= y == 0;
            touches[1] |= x + 1 == wu;
            touches[2] |= y + 1 == hu;
            touches[3] |= x == 0;
            let mut visit = |j: usize| {
                if m[j] && !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < wu {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - wu);
            }
            if y + 1 < hu {
                visit(i + wu);
            }
        }
        if pixels as f32 >= 0.08 * m.len() as f32 {
            out.push(Region {
                pixels,
                rows: extent.into_iter().map(|(y, (a, b))| (y, a, b)).collect(),
                touches,
            });
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use image::Rgb;

    /// A light card with dark "text" bars, warped onto a darker, slightly textured background.
    pub(crate) fn photo_of_card(corners: Quad, w: u32, h: u32) -> (RgbImage, RgbImage) {
        let card = RgbImage::from_fn(856, 540, |x, y| {
            let bar = (y / 40) % 2 == 1 && (80..700).contains(&x) && y > 60 && y < 480;
            if bar && (x / 30) % 3 != 0 {
                Rgb([40, 40, 50])
            } else {
                Rgb([235, 232, 220])
            }
        });
        let src = [[0.0, 0.0], [855.0, 0.0], [855.0, 539.0], [0.0, 539.0]];
        let hm = geometry::homography(&corners, &src).unwrap();
        let photo = RgbImage::from_fn(w, h, |x, y| {
            let p = geometry::apply(&hm, [x as f32, y as f32]);
            if p[0] >= 0.0 && p[1] >= 0.0 && p[0] <= 855.0 && p[1] <= 539.0 {
                let v = geometry::sample(&card, p[0], p[1]);
                Rgb([v[0] as u8, v[1] as u8, v[2] as u8])
            } else {
                let n = ((x * 7 + y * 13) % 17) as u8;
                Rgb([90 + n, 70 + n, 50 + n])
            }
        });
        (photo, card)
    }

    #[test]
    fn finds_and_rectifies_a_card_photographed_at_an_angle() {
        let corners = [
            [210.0, 140.0],
            [1010.0, 230.0],
            [950.0, 760.0],
            [160.0, 640.0],
        ];
        let (photo, card) = photo_of_card(corners, 1200, 900);
        let found = find_document(&photo).expect("card found");
        for (got, want) in found.quad.iter().zip(corners.iter()) {
            let err = ((got[0] - want[0]).powi(2) + (got[1] - want[1]).powi(2)).sqrt();
            assert!(err < 6.0, "corner {got:?} vs {want:?}");
        }
        let flat = rectify(&photo, &found.quad);
        let flat = image::imageops::resize(&flat, 856, 540, image::imageops::FilterType::Triangle);
        // The rectified card matches the original: mean absolute difference per channel.
        let diff: f64 = flat
            .as_raw()
            .iter()
            .zip(card.as_raw())
            .map(|(a, b)| (*a as f64 - *b as f64).abs())
            .sum::<f64>()
            / card.as_raw().len() as f64;
        assert!(diff < 20.0, "mean difference {diff}");
    }

    #[test]
    fn a_photo_that_is_all_document_is_left_alone() {
        let img = RgbImage::from_fn(600, 400, |x, y| {
            if (y / 30) % 2 == 1 && x > 50 && x < 550 {
                Rgb([20, 20, 20])
            } else {
                Rgb([250, 250, 250])
            }
        });
        assert!(find_document(&img).is_none());
    }

    #[test]
    fn otsu_splits_two_levels() {
        let v: Vec<u8> = (0..100).map(|i| if i < 50 { 30 } else { 200 }).collect();
        let t = otsu(&v);
        assert!((30..200).contains(&t));
    }
}
