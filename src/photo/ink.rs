//! Coloured ink set aside before reading. Red to yellow ink: the round seal printed over
//! 登记机关 and the issue date, the 样本 overprint, a red 仅供…使用 stamp, the red and gold of the
//! emblem and the licence's border (DOMAIN.md, "What else the 2019 template prints"). Blue
//! ink: a stamped or handwritten 仅供办理XX使用，他用无效 across a licence's copy — but an
//! identity card prints its labels in blue, so that is set aside only where the caller knows
//! the page is a licence. Fields are printed in black; where black print lies under the ink
//! the pixel stays dark and is kept.

use image::RgbImage;

/// Whether a pixel is light enough not to be print (at least 110 of 255; black print, under
/// ink too, stays below) and saturated (its weakest channel at most 65 % of its strongest).
/// Measured on the tuning specimens: taking in paler pixels (80 %) also ate the edges of black
/// strokes touching the ink, and fields were lost (fields 86.9 % → 82.4 %).
fn inked(max: u8, min: u8) -> bool {
    max >= 110 && u32::from(min) * 100 <= u32::from(max) * 65
}

/// A pixel of red to yellow ink: red its strongest channel, clearly above blue.
pub fn is_warm_ink([r, g, b]: [u8; 3]) -> bool {
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    r == max && r >= b.saturating_add(30) && inked(max, min)
}

/// A pixel of blue ink: blue its strongest channel, clearly above red.
pub fn is_cool_ink([r, g, b]: [u8; 3]) -> bool {
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    b == max && b >= r.saturating_add(40) && inked(max, min)
}

/// `img` with every pixel `is_ink` picks turned to a grey as light as the ink's strongest
/// channel, so the text detector sees the black print alone; other pixels unchanged.
fn without(img: &RgbImage, is_ink: fn([u8; 3]) -> bool) -> RgbImage {
    let mut out = img.clone();
    for p in out.pixels_mut() {
        if is_ink(p.0) {
            let v = p.0[0].max(p.0[1]).max(p.0[2]);
            p.0 = [v, v, v];
        }
    }
    out
}

/// `img` without its red to yellow ink (any page).
pub fn without_warm_ink(img: &RgbImage) -> RgbImage {
    without(img, is_warm_ink)
}

/// `img` without its blue ink (a licence's page only).
pub fn without_cool_ink(img: &RgbImage) -> RgbImage {
    without(img, is_cool_ink)
}

/// Whether at least 2 pixels in 1000 are blue ink: a stamp or writing across the page, not a
/// speck.
pub fn has_cool_ink(img: &RgbImage) -> bool {
    let n = img.pixels().filter(|p| is_cool_ink(p.0)).count() as u64;
    n * 1000 >= 2 * u64::from(img.width()) * u64::from(img.height())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn ink_goes_black_print_and_paper_stay() {
        for ink in [[210, 30, 30], [229, 120, 110], [240, 200, 60]] {
            assert!(is_warm_ink(ink) && !is_cool_ink(ink), "{ink:?}");
        }
        for ink in [[40, 90, 170], [120, 140, 235]] {
            assert!(is_cool_ink(ink) && !is_warm_ink(ink), "{ink:?}");
        }
        // Black print, print under red ink, a pale ink edge, cream and white paper, grey.
        for not in [
            [238, 180, 170],
            [22, 22, 22],
            [100, 20, 20],
            [245, 240, 228],
            [255, 255, 255],
            [150, 150, 150],
        ] {
            assert!(!is_warm_ink(not) && !is_cool_ink(not), "{not:?}");
        }
        let mut img = RgbImage::from_pixel(2, 1, Rgb([22, 22, 22]));
        img.put_pixel(1, 0, Rgb([210, 30, 30]));
        let out = without_warm_ink(&img);
        assert_eq!(out.get_pixel(0, 0).0, [22, 22, 22]);
        assert_eq!(out.get_pixel(1, 0).0, [210, 210, 210]);
        assert!(!has_cool_ink(&img));
        img.put_pixel(1, 0, Rgb([40, 90, 170]));
        assert!(has_cool_ink(&img));
        assert_eq!(without_cool_ink(&img).get_pixel(1, 0).0, [170, 170, 170]);
    }
}
