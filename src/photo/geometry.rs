//! Plane geometry shared by document location and OCR: convex hulls, minimum-area rectangles,
//! polygon offsetting, corner ordering, homographies and perspective warps.
//!
//! Points are `[x, y]` in pixel coordinates (x to the right, y down). A quadrilateral is
//! ordered clockwise on screen from its top-left corner: top-left, top-right, bottom-right,
//! bottom-left. **Invariant:** pure functions, no IO.

use image::{Rgb, RgbImage};

/// A point `[x, y]` in pixels.
pub type Point = [f32; 2];

/// Four corners, clockwise on screen from the top-left one.
pub type Quad = [Point; 4];

fn cross(o: Point, a: Point, b: Point) -> f32 {
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
}

fn dist(a: Point, b: Point) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// Convex hull (Andrew's monotone chain), counter-clockwise in the maths sense — which is
/// clockwise on screen, where y grows downwards. Collinear points are dropped.
pub fn convex_hull(points: &[Point]) -> Vec<Point> {
    let mut pts: Vec<Point> = points.to_vec();
    pts.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    pts.dedup();
    if pts.len() < 3 {
        return pts;
    }
    let mut hull: Vec<Point> = Vec::with_capacity(pts.len() * 2);
    for &p in &pts {
        while hull.len() >= 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0 {
            hull.pop();
        }
        hull.push(p);
    }
    let lower = hull.len() + 1;
    for &p in pts.iter().rev().skip(1) {
        while hull.len() >= lower && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0 {
            hull.pop();
        }
        hull.push(p);
    }
    hull.pop();
    hull
}

/// Area of a simple polygon (absolute value of the shoelace sum).
pub fn polygon_area(poly: &[Point]) -> f32 {
    let n = poly.len();
    if n < 3 {
        return 0.0;
    }
    let s: f32 = (0..n)
        .map(|i| {
            let (a, b) = (poly[i], poly[(i + 1) % n]);
            a[0] * b[1] - b[0] * a[1]
        })
        .sum();
    s.abs() / 2.0
}

/// Length of a closed polygon's boundary.
pub fn polygon_perimeter(poly: &[Point]) -> f32 {
    let n = poly.len();
    (0..n).map(|i| dist(poly[i], poly[(i + 1) % n])).sum()
}

/// The smallest-area rectangle enclosing `points` (rotating calipers over the hull edges), as
/// four corners in no particular order, and its two side lengths.
pub fn min_area_rect(points: &[Point]) -> ([Point; 4], f32, f32) {
    let hull = convex_hull(points);
    match hull.len() {
        0 => return ([[0.0; 2]; 4], 0.0, 0.0),
        1 => return ([hull[0]; 4], 0.0, 0.0),
        _ => {}
    }
    let mut best: Option<(f32, [Point; 4], f32, f32)> = None;
    for i in 0..hull.len() {
        let (a, b) = (hull[i], hull[(i + 1) % hull.len()]);
        let len = dist(a, b);
        if len == 0.0 {
            continue;
        }
        let u = [(b[0] - a[0]) / len, (b[1] - a[1]) / len];
        let v = [-u[1], u[0]];
        let (mut min_u, mut max_u, mut min_v, mut max_v) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for p in &hull {
            let pu = p[0] * u[0] + p[1] * u[1];
            let pv = p[0] * v[0] + p[1] * v[1];
            min_u = min_u.min(pu);
            max_u = max_u.max(pu);
            min_v = min_v.min(pv);
            max_v = max_v.max(pv);
        }
        let (w, h) = (max_u - min_u, max_v - min_v);
        let area = w * h;
        if best.as_ref().is_none_or(|b| area < b.0) {
            let at = |cu: f32, cv: f32| [cu * u[0] + cv * v[0], cu * u[1] + cv * v[1]];
            let corners = [
                at(min_u, min_v),
                at(max_u, min_v),
                at(max_u, max_v),
                at(min_u, max_v),
            ];
            best = Some((area, corners, w, h));
        }
    }
    let (_, c, w, h) = best.expect("a hull of two or more points has an edge");
    (c, w, h)
}

/// Orders four corners as PaddleOCR's `get_mini_boxes` does: the two leftmost points (by x)
/// give top-left and bottom-left (by y), the other two top-right and bottom-right.
pub fn order_box(mut pts: [Point; 4]) -> Quad {
    pts.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let (l0, l1) = if pts[1][1] > pts[0][1] {
        (pts[0], pts[1])
    } else {
        (pts[1], pts[0])
    };
    let (r0, r1) = if pts[3][1] > pts[2][1] {
        (pts[2], pts[3])
    } else {
        (pts[3], pts[2])
    };
    [l0, r0, r1, l1]
}

/// Orders the corners of a convex quadrilateral clockwise on screen, starting from the corner
/// nearest the top-left (smallest x + y). Unlike [`order_box`] this is right for any rotation
/// up to 45°.
pub fn order_clockwise(pts: [Point; 4]) -> Quad {
    let cx = pts.iter().map(|p| p[0]).sum::<f32>() / 4.0;
    let cy = pts.iter().map(|p| p[1]).sum::<f32>() / 4.0;
    let mut p = pts;
    // Angle from the centre, increasing clockwise on screen (y down).
    p.sort_by(|a, b| {
        let aa = (a[1] - cy).atan2(a[0] - cx);
        let bb = (b[1] - cy).atan2(b[0] - cx);
        aa.total_cmp(&bb)
    });
    let start = (0..4)
        .min_by(|&i, &j| (p[i][0] + p[i][1]).total_cmp(&(p[j][0] + p[j][1])))
        .unwrap_or(0);
    [
        p[start],
        p[(start + 1) % 4],
        p[(start + 2) % 4],
        p[(start + 3) % 4],
    ]
}

/// Moves every edge of a convex polygon outwards by `distance` and joins neighbouring edges
/// at their intersection (a mitred offset). For the rectangles DB post-processing offsets this
/// equals the Clipper round-join offset PaddleOCR uses, once the minimum-area rectangle is taken
/// again. Very sharp corners are clamped to `4 × distance` from the original vertex.
pub fn offset_convex(poly: &[Point], distance: f32) -> Vec<Point> {
    let n = poly.len();
    if n < 3 {
        return poly.to_vec();
    }
    // Orientation: positive signed area = counter-clockwise in maths axes.
    let signed: f32 = (0..n)
        .map(|i| {
            let (a, b) = (poly[i], poly[(i + 1) % n]);
            a[0] * b[1] - b[0] * a[1]
        })
        .sum();
    let sign = if signed >= 0.0 { 1.0 } else { -1.0 };
    // Outward normal of each edge i (from vertex i to i + 1).
    let normals: Vec<Point> = (0..n)
        .map(|i| {
            let (a, b) = (poly[i], poly[(i + 1) % n]);
            let len = dist(a, b).max(f32::EPSILON);
            let (dx, dy) = ((b[0] - a[0]) / len, (b[1] - a[1]) / len);
            [sign * dy, -sign * dx]
        })
        .collect();
    (0..n)
        .map(|i| {
            let prev = normals[(i + n - 1) % n];
            let next = normals[i];
            let bis = [prev[0] + next[0], prev[1] + next[1]];
            let cos_half_sq = (1.0 + prev[0] * next[0] + prev[1] * next[1]) / 2.0;
            let p = poly[i];
            if cos_half_sq < 1e-6 {
                return [p[0] + next[0] * distance, p[1] + next[1] * distance];
            }
            let bl = (bis[0] * bis[0] + bis[1] * bis[1]).sqrt();
            let scale = (distance / cos_half_sq.sqrt()).min(4.0 * distance);
            [p[0] + bis[0] / bl * scale, p[1] + bis[1] / bl * scale]
        })
        .collect()
}

/// DB's "unclip": grows a text box by `area × ratio / perimeter` on every side.
pub fn unclip(poly: &[Point], ratio: f32) -> Vec<Point> {
    let perimeter = polygon_perimeter(poly);
    if perimeter <= 0.0 {
        return poly.to_vec();
    }
    let distance = polygon_area(poly) * ratio / perimeter;
    offset_convex(poly, distance)
}

/// Reduces a convex polygon to the enclosing quadrilateral found by repeatedly removing the
/// edge whose removal (extending its two neighbouring edges to where they meet) adds the least
/// area. Rounded or clipped corners of a card are thus restored, not cut. `None` for fewer
/// than four vertices.
pub fn reduce_to_quad(hull: &[Point]) -> Option<[Point; 4]> {
    if hull.len() < 4 {
        return None;
    }
    let mut poly = hull.to_vec();
    while poly.len() > 4 {
        let n = poly.len();
        let mut best: Option<(usize, Point, f32)> = None;
        for i in 0..n {
            let (a, b, c, d) = (
                poly[(i + n - 1) % n],
                poly[i],
                poly[(i + 1) % n],
                poly[(i + 2) % n],
            );
            let Some(x) = line_intersection(a, b, d, c) else {
                continue;
            };
            // x must lie beyond b (seen from a) and beyond c (seen from d).
            let ahead_b = (x[0] - b[0]) * (b[0] - a[0]) + (x[1] - b[1]) * (b[1] - a[1]) >= 0.0;
            let ahead_c = (x[0] - c[0]) * (c[0] - d[0]) + (x[1] - c[1]) * (c[1] - d[1]) >= 0.0;
            if !(ahead_b && ahead_c) {
                continue;
            }
            let added = cross(b, x, c).abs() / 2.0;
            if best.is_none_or(|(_, _, area)| added < area) {
                best = Some((i, x, added));
            }
        }
        match best {
            Some((i, x, _)) => {
                poly[i] = x;
                poly.remove((i + 1) % n);
            }
            None => {
                // No edge can be removed by extension (a triangle-like shape): drop the vertex
                // whose removal loses the least area.
                let idx = (0..n).min_by(|&i, &j| {
                    let t =
                        |k: usize| cross(poly[(k + n - 1) % n], poly[k], poly[(k + 1) % n]).abs();
                    t(i).total_cmp(&t(j))
                })?;
                poly.remove(idx);
            }
        }
    }
    Some([poly[0], poly[1], poly[2], poly[3]])
}

/// Intersection of the line through `a`, `b` with the line through `c`, `d`.
pub fn line_intersection(a: Point, b: Point, c: Point, d: Point) -> Option<Point> {
    let r = [b[0] - a[0], b[1] - a[1]];
    let s = [d[0] - c[0], d[1] - c[1]];
    let den = r[0] * s[1] - r[1] * s[0];
    if den.abs() < 1e-9 {
        return None;
    }
    let t = ((c[0] - a[0]) * s[1] - (c[1] - a[1]) * s[0]) / den;
    Some([a[0] + t * r[0], a[1] + t * r[1]])
}

/// The homography `H` (row-major 3×3, `h[8] = 1`) with `H · src[i] ~ dst[i]`. `None` when
/// the points are degenerate (three on a line).
pub fn homography(src: &[Point; 4], dst: &[Point; 4]) -> Option<[f64; 9]> {
    // Eight equations in the eight unknowns h0..h7.
    let mut m = [[0f64; 9]; 8];
    for i in 0..4 {
        let (x, y) = (src[i][0] as f64, src[i][1] as f64);
        let (u, v) = (dst[i][0] as f64, dst[i][1] as f64);
        m[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
        m[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
    }
    // Gaussian elimination with partial pivoting.
    for col in 0..8 {
        let pivot = (col..8).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))?;
        if m[pivot][col].abs() < 1e-12 {
            return None;
        }
        m.swap(col, pivot);
        for row in 0..8 {
            if row != col {
                let f = m[row][col] / m[col][col];
                if f != 0.0 {
                    let pivot_row = m[col];
                    for (dst, src) in m[row][col..].iter_mut().zip(&pivot_row[col..]) {
                        *dst -= f * src;
                    }
                }
            }
        }
    }
    let mut h = [0f64; 9];
    for i in 0..8 {
        h[i] = m[i][8] / m[i][i];
    }
    h[8] = 1.0;
    Some(h)
}

/// Applies a homography to a point.
pub fn apply(h: &[f64; 9], p: Point) -> Point {
    let (x, y) = (p[0] as f64, p[1] as f64);
    let w = h[6] * x + h[7] * y + h[8];
    [
        ((h[0] * x + h[1] * y + h[2]) / w) as f32,
        ((h[3] * x + h[4] * y + h[5]) / w) as f32,
    ]
}

/// Bilinear sample at `(x, y)`; outside the image the nearest edge pixel is used.
pub fn sample(img: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    let (w, h) = img.dimensions();
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let (x0, y0) = (x.floor() as u32, y.floor() as u32);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let raw = img.as_raw();
    let idx = |xx: u32, yy: u32| (yy as usize * w as usize + xx as usize) * 3;
    let (i00, i10, i01, i11) = (idx(x0, y0), idx(x1, y0), idx(x0, y1), idx(x1, y1));
    let mut out = [0f32; 3];
    for (c, o) in out.iter_mut().enumerate() {
        let top = raw[i00 + c] as f32 * (1.0 - fx) + raw[i10 + c] as f32 * fx;
        let bottom = raw[i01 + c] as f32 * (1.0 - fx) + raw[i11 + c] as f32 * fx;
        *o = top * (1.0 - fy) + bottom * fy;
    }
    out
}

/// Cuts the quadrilateral `quad` (clockwise from top-left) out of `img` and maps it onto an
/// upright `out_w × out_h` rectangle (bilinear sampling). When the output is much smaller than
/// the quad, the source is first averaged down so thin strokes are not lost to aliasing.
///
/// The quad's corners are the outer corners of the output's corner pixels (pixel `i` spans
/// `i − 0.5 ..= i + 0.5`, as [`sample`] and the document finder count). Mapping them to the
/// corner pixels' centres instead shifts a same-size warp by half a pixel, which averages every
/// pixel with its neighbours: on a card's OCR-B digits that blur alone made the recogniser read
/// most 1s as 7s.
pub fn warp_quad(img: &RgbImage, quad: &Quad, out_w: u32, out_h: u32) -> RgbImage {
    let out_w = out_w.max(1);
    let out_h = out_h.max(1);
    let src_w = dist(quad[0], quad[1]).max(dist(quad[3], quad[2]));
    let src_h = dist(quad[0], quad[3]).max(dist(quad[1], quad[2]));
    let factor = ((src_w / out_w as f32).min(src_h / out_h as f32)).floor() as u32;
    if factor >= 2 {
        // Only the blocks around the quad are averaged (aligned as in the whole image, so
        // they are the same blocks): a text line cut from a 40-megapixel photo used to average
        // the whole photo, once per line.
        let (x0, y0, part) = block_window(img, quad, factor);
        let small = box_downscale(&part, factor);
        let q = quad.map(|p| {
            [
                (p[0] - x0 as f32 + 0.5) / factor as f32 - 0.5,
                (p[1] - y0 as f32 + 0.5) / factor as f32 - 0.5,
            ]
        });
        return warp_quad(&small, &q, out_w, out_h);
    }
    let (right, bottom) = (out_w as f32 - 0.5, out_h as f32 - 0.5);
    let dst = [[-0.5, -0.5], [right, -0.5], [right, bottom], [-0.5, bottom]];
    let Some(h) = homography(&dst, quad) else {
        return RgbImage::new(out_w, out_h);
    };
    let mut out = RgbImage::new(out_w, out_h);
    for y in 0..out_h {
        for x in 0..out_w {
            let p = apply(&h, [x as f32, y as f32]);
            let v = sample(img, p[0], p[1]);
            out.put_pixel(
                x,
                y,
                Rgb([v[0].round() as u8, v[1].round() as u8, v[2].round() as u8]),
            );
        }
    }
    out
}

/// The part of `img` made of whole `factor × factor` blocks (counted from the image's origin,
/// as [`box_downscale`] counts them) that covers `quad` with a margin of two blocks on every
/// side, or reaches the image's edge: sampling its downscaled copy inside the quad reads the
/// same pixels, clamped at the same edges, as sampling the whole image's. Returns its origin.
fn block_window(img: &RgbImage, quad: &Quad, factor: u32) -> (u32, u32, RgbImage) {
    let (w, h) = img.dimensions();
    let f = factor as f32;
    let span = |values: [f32; 4], size: u32| {
        let blocks = size.div_ceil(factor) as i64;
        let lo = values.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let first = (((lo + 0.5) / f - 0.5).floor() as i64 - 2).clamp(0, blocks - 1);
        let last = (((hi + 0.5) / f - 0.5).ceil() as i64 + 3).clamp(first + 1, blocks);
        let start = first as u32 * factor;
        (start, (last as u32 * factor).min(size) - start)
    };
    let (x0, pw) = span(quad.map(|p| p[0]), w);
    let (y0, ph) = span(quad.map(|p| p[1]), h);
    let part = image::imageops::crop_imm(img, x0, y0, pw, ph).to_image();
    (x0, y0, part)
}

/// Averages `factor × factor` blocks (the last partial blocks are averaged over what exists).
pub fn box_downscale(img: &RgbImage, factor: u32) -> RgbImage {
    if factor <= 1 {
        return img.clone();
    }
    let (w, h) = img.dimensions();
    let (ow, oh) = (w.div_ceil(factor), h.div_ceil(factor));
    let mut acc = vec![0u32; (ow * oh * 3) as usize];
    let mut cnt = vec![0u32; (ow * oh) as usize];
    let raw = img.as_raw();
    for y in 0..h {
        let oy = y / factor;
        for x in 0..w {
            let o = (oy * ow + x / factor) as usize;
            let i = ((y * w + x) * 3) as usize;
            acc[o * 3] += raw[i] as u32;
            acc[o * 3 + 1] += raw[i + 1] as u32;
            acc[o * 3 + 2] += raw[i + 2] as u32;
            cnt[o] += 1;
        }
    }
    let data: Vec<u8> = acc
        .iter()
        .enumerate()
        .map(|(i, &s)| ((s + cnt[i / 3] / 2) / cnt[i / 3]) as u8)
        .collect();
    RgbImage::from_raw(ow, oh, data).expect("buffer has the right size")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hull_of_a_square_with_inner_points() {
        let pts = [
            [0.0, 0.0],
            [10.0, 0.0],
            [10.0, 10.0],
            [0.0, 10.0],
            [5.0, 5.0],
            [5.0, 0.0],
        ];
        let hull = convex_hull(&pts);
        assert_eq!(hull.len(), 4);
        assert_eq!(polygon_area(&hull), 100.0);
    }

    #[test]
    fn min_area_rect_of_a_rotated_rectangle() {
        let a = 30f32.to_radians();
        let (c, s) = (a.cos(), a.sin());
        let rect = [[0.0, 0.0], [40.0, 0.0], [40.0, 10.0], [0.0, 10.0]]
            .map(|p: Point| [p[0] * c - p[1] * s + 100.0, p[0] * s + p[1] * c + 50.0]);
        let (_, w, h) = min_area_rect(&rect);
        let (long, short) = (w.max(h), w.min(h));
        assert!((long - 40.0).abs() < 1e-3 && (short - 10.0).abs() < 1e-3);
    }

    #[test]
    fn unclip_grows_a_box_by_area_times_ratio_over_perimeter() {
        // 100 × 20: area 2000, perimeter 240, ratio 1.6 → distance 13.33 on every side.
        let b = [[0.0, 0.0], [100.0, 0.0], [100.0, 20.0], [0.0, 20.0]];
        let grown = unclip(&b, 1.6);
        let (_, w, h) = min_area_rect(&grown);
        let d = 2000.0 * 1.6 / 240.0;
        assert!((w.max(h) - (100.0 + 2.0 * d)).abs() < 1e-3, "{w} {h}");
        assert!((w.min(h) - (20.0 + 2.0 * d)).abs() < 1e-3, "{w} {h}");
        // Orientation of the input does not matter.
        let rev: Vec<Point> = b.iter().rev().copied().collect();
        let (_, w2, h2) = min_area_rect(&unclip(&rev, 1.6));
        assert!((w2 * h2 - w * h).abs() < 1e-2);
    }

    #[test]
    fn corner_orders() {
        let q = order_box([[10.0, 10.0], [0.0, 10.0], [10.0, 0.0], [0.0, 0.0]]);
        assert_eq!(q, [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]]);
        let q = order_clockwise([[50.0, 0.0], [100.0, 50.0], [0.0, 40.0], [60.0, 90.0]]);
        assert_eq!(q[0], [0.0, 40.0]);
        assert_eq!(q[1], [50.0, 0.0]);
        assert_eq!(q[2], [100.0, 50.0]);
    }

    // A region's pixel-edge quad warped at its own size gives its pixels back unblurred.
    /// What `warp_quad` did before it averaged only the quad's neighbourhood: the whole image.
    fn warp_from_whole_image(img: &RgbImage, quad: &Quad, factor: u32, w: u32, h: u32) -> RgbImage {
        let small = box_downscale(img, factor);
        let f = factor as f32;
        let q = quad.map(|p| [(p[0] + 0.5) / f - 0.5, (p[1] + 0.5) / f - 0.5]);
        warp_quad(&small, &q, w, h)
    }

    #[test]
    fn shrinking_warp_averages_only_the_quads_blocks_with_the_same_result() {
        let img = RgbImage::from_fn(403, 257, |x, y| {
            Rgb([
                ((x * 7 + y * 3) % 251) as u8,
                ((x * x + y) % 241) as u8,
                ((x ^ y) % 256) as u8,
            ])
        });
        let quads: [(Quad, u32, u32); 3] = [
            // A slanted line in the middle, shrunk about 4×.
            (
                [[100.5, 40.0], [260.0, 52.0], [255.0, 118.0], [95.0, 106.0]],
                40,
                16,
            ),
            // A line reaching past the top-left corner (samples clamped at the edges).
            (
                [[-3.0, -2.0], [150.0, -1.0], [150.0, 40.0], [-3.0, 41.0]],
                50,
                13,
            ),
            // Up to the right and bottom edges, where the last blocks are partial.
            (
                [
                    [300.0, 200.0],
                    [402.5, 200.0],
                    [402.5, 256.5],
                    [300.0, 256.5],
                ],
                34,
                18,
            ),
        ];
        for (quad, w, h) in quads {
            let src_w = dist(quad[0], quad[1]).max(dist(quad[3], quad[2]));
            let src_h = dist(quad[0], quad[3]).max(dist(quad[1], quad[2]));
            let factor = ((src_w / w as f32).min(src_h / h as f32)).floor() as u32;
            assert!(factor >= 2, "{quad:?} is not a shrinking warp");
            let got = warp_quad(&img, &quad, w, h);
            let want = warp_from_whole_image(&img, &quad, factor, w, h);
            let worst = got
                .as_raw()
                .iter()
                .zip(want.as_raw())
                .map(|(a, b)| a.abs_diff(*b))
                .max();
            // The same blocks and samples; only the homography's rounding may differ.
            assert!(worst <= Some(1), "{quad:?}: differs by {worst:?}");
        }
    }

    #[test]
    fn same_size_warp_of_a_pixel_edge_quad_copies_the_pixels() {
        let img = RgbImage::from_fn(40, 30, |x, y| {
            let v = ((x * 37 + y * 91) % 251) as u8;
            Rgb([v, v / 2, 255 - v])
        });
        let quad = [[9.5, 4.5], [29.5, 4.5], [29.5, 19.5], [9.5, 19.5]];
        let out = warp_quad(&img, &quad, 20, 15);
        for (x, y, p) in out.enumerate_pixels() {
            assert_eq!(p, img.get_pixel(x + 10, y + 5), "at {x},{y}");
        }
    }

    #[test]
    fn homography_maps_corners() {
        let src = [[0.0, 0.0], [99.0, 0.0], [99.0, 49.0], [0.0, 49.0]];
        let dst = [[10.0, 5.0], [120.0, 20.0], [110.0, 90.0], [5.0, 70.0]];
        let h = homography(&src, &dst).unwrap();
        for i in 0..4 {
            let p = apply(&h, src[i]);
            assert!((p[0] - dst[i][0]).abs() < 1e-3 && (p[1] - dst[i][1]).abs() < 1e-3);
        }
    }

    #[test]
    fn a_clipped_corner_is_restored_when_reducing_to_four() {
        // A square of side 100 with one corner cut by a small chamfer.
        let poly = [
            [0.0, 0.0],
            [100.0, 0.0],
            [100.0, 95.0],
            [95.0, 100.0],
            [0.0, 100.0],
        ];
        let q = order_clockwise(reduce_to_quad(&poly).unwrap());
        assert!(
            (q[2][0] - 100.0).abs() < 1e-3 && (q[2][1] - 100.0).abs() < 1e-3,
            "{q:?}"
        );
    }
}
