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

    let mut masks = border_difference_masks(&small);
    let t = otsu(&gray);
    masks.push(gray.iter().map(|&g| g > t).collect::<Vec<bool>>());
    masks.push(gray.iter().map(|&g| g <= t).collect::<Vec<bool>>());

    let mut candidates: Vec<(f32, Found)> = Vec::new();
    for mask in masks {
        let mask = open(&mask, sw, sh, 2);
        let mask = fill_holes(&mask, sw, sh);
        for region in regions(&mask, sw, sh) {
            candidates.extend(judge(&region, sw, sh));
        }
    }
    // The same card seen through several masks: among the large candidates, the one that
    // fills its quadrilateral best (a mask that bled into the background fills it worse).
    let largest = candidates.iter().map(|c| c.0).fold(0.0, f32::max);
    let (_, found) = candidates
        .into_iter()
        .filter(|c| c.0 >= 0.5 * largest)
        .max_by(|a, b| a.1.fill.total_cmp(&b.1.fill))?;
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
/// opposite sides, scaled down (both sides alike) when its longer side exceeds `max_side`.
pub fn rectify(img: &RgbImage, quad: &Quad, max_side: u32) -> RgbImage {
    let d = |a: Point, b: Point| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    let w = d(quad[0], quad[1]).max(d(quad[3], quad[2]));
    let h = d(quad[0], quad[3]).max(d(quad[1], quad[2]));
    let scale = (max_side as f32 / w.max(h)).min(1.0);
    let (w, h) = ((w * scale).round() as u32, (h * scale).round() as u32);
    geometry::warp_quad(img, quad, w.max(8), h.max(8))
}

/// A region's pixel count and, per row, its leftmost and rightmost pixel.
struct Region {
    pixels: u32,
    rows: Vec<(u32, u32, u32)>,
    /// Per column, its topmost and bottommost pixel.
    cols: Vec<(u32, u32, u32)>,
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
    let rough = geometry::order_clockwise(geometry::reduce_to_quad(&hull)?);
    let mut boundary: Vec<Point> = Vec::with_capacity(2 * (r.rows.len() + r.cols.len()));
    for &(y, x0, x1) in &r.rows {
        boundary.push([x0 as f32 - 0.5, y as f32]);
        boundary.push([x1 as f32 + 0.5, y as f32]);
    }
    for &(x, y0, y1) in &r.cols {
        boundary.push([x as f32, y0 as f32 - 0.5]);
        boundary.push([x as f32, y1 as f32 + 0.5]);
    }
    let quad = refine_sides(&rough, &boundary).unwrap_or(rough);
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

/// Fits each side of `quad` again to the region's boundary points that lie along its middle
/// 70 % and within 3 pixels of it (total least squares), and intersects neighbouring sides.
/// Corners rounded by the opening or by a card's rounded corners thus do not pull the sides.
fn refine_sides(quad: &Quad, boundary: &[Point]) -> Option<Quad> {
    let mut lines: Vec<(Point, Point)> = Vec::with_capacity(4);
    for i in 0..4 {
        let (a, b) = (quad[i], quad[(i + 1) % 4]);
        let len = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
        if len < 4.0 {
            return None;
        }
        let u = [(b[0] - a[0]) / len, (b[1] - a[1]) / len];
        let near: Vec<Point> = boundary
            .iter()
            .copied()
            .filter(|p| {
                let (dx, dy) = (p[0] - a[0], p[1] - a[1]);
                let along = dx * u[0] + dy * u[1];
                let across = (dx * u[1] - dy * u[0]).abs();
                along > 0.15 * len && along < 0.85 * len && across < 3.0
            })
            .collect();
        if near.len() < 5 {
            return None;
        }
        let n = near.len() as f32;
        let (mx, my) = (
            near.iter().map(|p| p[0]).sum::<f32>() / n,
            near.iter().map(|p| p[1]).sum::<f32>() / n,
        );
        let (mut sxx, mut sxy, mut syy) = (0f32, 0f32, 0f32);
        for p in &near {
            let (dx, dy) = (p[0] - mx, p[1] - my);
            sxx += dx * dx;
            sxy += dx * dy;
            syy += dy * dy;
        }
        // Direction of the principal axis.
        let theta = 0.5 * (2.0 * sxy).atan2(sxx - syy);
        let dir = [theta.cos(), theta.sin()];
        lines.push(([mx, my], [mx + dir[0], my + dir[1]]));
    }
    let mut out = [[0f32; 2]; 4];
    for i in 0..4 {
        let (p, q) = lines[(i + 3) % 4];
        let (r, s) = lines[i];
        let x = geometry::line_intersection(p, q, r, s)?;
        // A refined corner far from the rough one means a bad fit: keep the rough quad.
        if (x[0] - quad[i][0]).hypot(x[1] - quad[i][1]) > 8.0 {
            return None;
        }
        out[i] = x;
    }
    Some(out)
}

/// Masks of pixels whose colour is far from the median colour of the photo's border: at a
/// threshold read from the border's own spread (a plain background, however light or dark, is
/// told from the card's paper even when their grey levels are close), at Otsu's threshold on
/// the distances (a patterned background), and halfway to the document's level (a sharper
/// edge when the contrast is high).
fn border_difference_masks(img: &RgbImage) -> Vec<Vec<bool>> {
    let (w, h) = img.dimensions();
    let mut border: Vec<[u8; 3]> = Vec::with_capacity(2 * (w + h) as usize);
    for x in 0..w {
        border.push(img.get_pixel(x, 0).0);
        border.push(img.get_pixel(x, h - 1).0);
    }
    for y in 0..h {
        border.push(img.get_pixel(0, y).0);
        border.push(img.get_pixel(w - 1, y).0);
    }
    let med: Vec<f32> = (0..3)
        .map(|c| {
            let mut v: Vec<u8> = border.iter().map(|p| p[c]).collect();
            v.sort_unstable();
            v[v.len() / 2] as f32
        })
        .collect();
    let distance = |p: [u8; 3]| {
        let d = (0..3)
            .map(|c| (p[c] as f32 - med[c]).powi(2))
            .sum::<f32>()
            .sqrt();
        d.min(255.0) as u8
    };
    let mut spread: Vec<u8> = border.iter().map(|&p| distance(p)).collect();
    spread.sort_unstable();
    let noise = spread[spread.len() * 9 / 10];
    let dist: Vec<u8> = img.pixels().map(|p| distance(p.0)).collect();
    let dist = blur3(&dist, w, h);
    let plain = noise.saturating_mul(2).saturating_add(12).max(18);
    let otsu_t = otsu(&dist).max(24);
    // Halfway between the background and the document's typical distance (its 90th
    // percentile over the photo): the edge of a high-contrast document, unbiased by blur.
    let mut sorted = dist.clone();
    sorted.sort_unstable();
    let high = sorted[sorted.len() * 9 / 10];
    let mid = ((noise as u16 + high as u16) / 2) as u8;
    let mut thresholds = vec![plain, otsu_t];
    if mid > plain {
        thresholds.push(mid);
    }
    thresholds.dedup();
    thresholds
        .into_iter()
        .map(|t| dist.iter().map(|&d| d > t).collect())
        .collect()
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
        let mut col_extent: std::collections::BTreeMap<u32, (u32, u32)> = Default::default();
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
            let c = col_extent.entry(x as u32).or_insert((y as u32, y as u32));
            c.0 = c.0.min(y as u32);
            c.1 = c.1.max(y as u32);
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
                cols: col_extent
                    .into_iter()
                    .map(|(x, (a, b))| (x, a, b))
                    .collect(),
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
        let flat = rectify(&photo, &found.quad, u32::MAX);
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

    /// The card's corners for a centre, width, rotation and perspective (top edge narrowed by
    /// `persp` of the width).
    fn corners_for(cx: f32, cy: f32, width: f32, angle_deg: f32, persp: f32) -> Quad {
        let h = width * 540.0 / 856.0;
        let (w2, h2) = (width / 2.0, h / 2.0);
        let shrink = persp * width / 2.0;
        let local = [[-w2 + shrink, -h2], [w2 - shrink, -h2], [w2, h2], [-w2, h2]];
        let (c, s) = (angle_deg.to_radians().cos(), angle_deg.to_radians().sin());
        local.map(|p| [cx + p[0] * c - p[1] * s, cy + p[0] * s + p[1] * c])
    }

    fn photo_on(corners: Quad, background: &dyn Fn(u32, u32) -> [u8; 3]) -> RgbImage {
        let (photo, _) = photo_of_card(corners, 1200, 900);
        let src = [[0.0, 0.0], [855.0, 0.0], [855.0, 539.0], [0.0, 539.0]];
        let hm = geometry::homography(&corners, &src).unwrap();
        RgbImage::from_fn(1200, 900, |x, y| {
            let p = geometry::apply(&hm, [x as f32, y as f32]);
            if p[0] >= 0.0 && p[1] >= 0.0 && p[0] <= 855.0 && p[1] <= 539.0 {
                *photo.get_pixel(x, y)
            } else {
                Rgb(background(x, y))
            }
        })
    }

    fn worst_corner_error(found: &Quad, want: &Quad) -> f32 {
        let want = geometry::order_clockwise(*want);
        found
            .iter()
            .zip(want.iter())
            .map(|(a, b)| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt())
            .fold(0.0, f32::max)
    }

    type Background = (&'static str, Box<dyn Fn(u32, u32) -> [u8; 3]>);

    fn backgrounds() -> Vec<Background> {
        vec![
            (
                "dark wood",
                Box::new(|x, y| {
                    let n = ((x / 3 + y * 5) % 23) as u8;
                    [100 + n, 70 + n, 45 + n]
                }),
            ),
            (
                "grey desk",
                Box::new(|x, y| {
                    let n = ((x * 7 + y * 13) % 11) as u8;
                    [185 + n, 188 + n, 192 + n]
                }),
            ),
            (
                "white paper",
                Box::new(|x, y| {
                    let n = ((x * 3 + y * 7) % 5) as u8;
                    [248 + n, 248 + n, 250]
                }),
            ),
            (
                "busy cloth",
                Box::new(|x, y| {
                    if ((x / 40) + (y / 40)) % 2 == 0 {
                        [40, 90, 160]
                    } else {
                        [200, 60, 60]
                    }
                }),
            ),
        ]
    }

    #[test]
    fn finds_cards_on_light_and_busy_backgrounds() {
        for (name, bg) in backgrounds() {
            let corners = corners_for(600.0, 450.0, 700.0, 12.0, 0.06);
            let photo = photo_on(corners, bg.as_ref());
            let found = find_document(&photo).unwrap_or_else(|| panic!("not found on {name}"));
            let err = worst_corner_error(&found.quad, &corners);
            assert!(err < 12.0, "{name}: worst corner off by {err:.1} px");
        }
    }

    /// Success rate and corner error over backgrounds, sizes, angles and perspective. Run with
    /// `cargo test --lib locate -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn measure_locating() {
        let mut total = 0;
        let mut ok = 0;
        for (name, bg) in backgrounds() {
            let mut errors = Vec::new();
            let mut missed = 0;
            for width in [420.0, 800.0] {
                for angle in [0.0, 8.0, 25.0, 40.0, 90.0] {
                    for persp in [0.0, 0.12] {
                        let corners = corners_for(600.0, 450.0, width, angle, persp);
                        let photo = photo_on(corners, bg.as_ref());
                        total += 1;
                        match find_document(&photo) {
                            Some(f) => {
                                let err = worst_corner_error(&f.quad, &corners);
                                // Within 1.5 % of the card's width.
                                if err < 0.015 * width {
                                    ok += 1;
                                } else {
                                    missed += 1;
                                }
                                errors.push(err);
                            }
                            None => missed += 1,
                        }
                    }
                }
            }
            errors.sort_by(f32::total_cmp);
            println!(
                "{name:<12} found {}/{}  worst-corner error median {:.1} px, max {:.1} px, missed {missed}",
                errors.len(),
                20,
                errors.get(errors.len() / 2).copied().unwrap_or(f32::NAN),
                errors.last().copied().unwrap_or(f32::NAN)
            );
        }
        println!("within 1.5% of the card width: {ok}/{total}");
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
