//! Red ink set aside before reading: the round seal printed over 登记机关 and the issue date,
//! the 样本 overprint, a red 仅供…使用 stamp, the red and gold of the emblem and the licence's
//! border (DOMAIN.md, "What else the 2019 template prints"). The fields themselves are printed
//! in black; where black print lies under red ink the pixel stays dark and is kept.

use image::RgbImage;

/// A pixel of red to yellow ink: red its strongest channel, light enough not to be print (at
/// least 110 of 255; black print, under red ink too, stays below), and saturated (its weakest
/// channel at most 65 % of its strongest). Paper, grey and black print are not ink; blue labels
/// (the identity card's) are not warm.
pub fn is_warm_ink([r, g, b]: [u8; 3]) -> bool {
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    r == max && max >= 110 && u32::from(min) * 100 <= u32::from(max) * 65 && r > b
}

/// `img` with every pixel of warm ink turned to a grey as light as the ink was, so the text
/// detector sees the black print alone; other pixels unchanged.
pub fn without_warm_ink(img: &RgbImage) -> RgbImage {
    let mut out = img.clone();
    for p in out.pixels_mut() {
        if is_warm_ink(p.0) {
            let v = p.0[0];
            p.0 = [v, v, v];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn red_and_gold_ink_go_black_print_and_blue_labels_stay() {
        for ink in [[210, 30, 30], [229, 120, 110], [240, 200, 60], [196, 36, 36]] {
            assert!(is_warm_ink(ink), "{ink:?}");
        }
        // Black print, print under red ink, paper, grey, the card's blue labels.
        for not in [
            [22, 22, 22],
            [100, 20, 20],
            [245, 240, 228],
            [150, 150, 150],
            [40, 90, 170],
        ] {
            assert!(!is_warm_ink(not), "{not:?}");
        }
        let mut img = RgbImage::from_pixel(2, 1, Rgb([22, 22, 22]));
        img.put_pixel(1, 0, Rgb([210, 30, 30]));
        let out = without_warm_ink(&img);
        assert_eq!(out.get_pixel(0, 0).0, [22, 22, 22]);
        assert_eq!(out.get_pixel(1, 0).0, [210, 210, 210]);
    }
}
