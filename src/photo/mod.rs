//! Image intake and document geometry, before any OCR.
//!
//! `intake.rs`: upload bytes → [`Scan`] (format by content, byte and pixel limits checked from
//! the header before decoding, EXIF orientation applied) or an [`IntakeError`] with a Chinese
//! message. `locate.rs`: the card or page quadrilateral in a photo and its perspective
//! correction. `geometry.rs`: hulls, rectangles, offsets, homographies and warps, shared with
//! `ocr`.
//!
//! **Invariants:** no IO (bytes in, pixels out); nothing here knows which document it holds;
//! a `Scan`'s `Debug` never prints pixels.

pub mod geometry;
pub mod ink;
pub mod intake;
pub mod locate;

pub use ink::{
    has_cool_ink, stretched, without_cool_ink, without_grey, without_grey_above,
    without_overprint_ink, without_warm_ink,
};
pub use intake::{ACCEPTED, IntakeError, IntakeLimits, Scan, intake, sniff};
pub use locate::{Found, find_document, rectify};

use image::RgbImage;

/// A document cut out of its photo and squared up.
#[derive(Clone)]
pub struct Straightened {
    /// The document alone when it was found, else the whole photo.
    pub image: RgbImage,
    /// Where the document was in the photo (clockwise from top-left), when it was found.
    pub found: Option<Found>,
    /// When a document was found, the whole photo too, shrunk the same way: the finder can
    /// take a part for the whole (a card's grey portrait box stands out from the card more than
    /// the card from a light table), and a reader that finds no document's text on the cut-out
    /// reads this instead.
    pub whole: Option<RgbImage>,
}

impl std::fmt::Debug for Straightened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Straightened")
            .field("size", &self.image.dimensions())
            .field("found", &self.found)
            .finish()
    }
}

/// The longest side of a straightened page, in pixels. OCR detects text on at most 960
/// pixels and recognises lines 48 pixels high; at 3200 a licence's smallest print (about
/// 3.5 mm on an A4 副本 filling the frame) is still some 35 pixels high. Larger pages only
/// cost memory: a 40-megapixel photo straightened whole is 120 MB, and reading copies the page.
pub const PAGE_MAX_SIDE: u32 = 3200;

/// Finds the document in `photo` and warps it square-on, at most [`PAGE_MAX_SIDE`] pixels on
/// its longest side. A photo in which no document stands out (a flat scan, a document filling
/// the frame) is returned whole, shrunk to the same limit. Turning the result by quarter turns
/// so its text reads upright needs the text itself: see `ocr::OcrEngine::read_upright`.
pub fn straighten(photo: &RgbImage) -> Straightened {
    straighten_within(photo, PAGE_MAX_SIDE)
}

fn straighten_within(photo: &RgbImage, max_side: u32) -> Straightened {
    match find_document(photo) {
        Some(found) => Straightened {
            image: rectify(photo, &found.quad, max_side),
            found: Some(found),
            whole: Some(fit_within(photo, max_side)),
        },
        None => Straightened {
            image: fit_within(photo, max_side),
            found: None,
            whole: None,
        },
    }
}

/// `img`, scaled down (triangle filter, so strokes are averaged, not skipped) when its longest
/// side exceeds `max_side`.
fn fit_within(img: &RgbImage, max_side: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    if w.max(h) <= max_side {
        return img.clone();
    }
    let scale = max_side as f64 / w.max(h) as f64;
    let (nw, nh) = (
        ((w as f64 * scale).round() as u32).clamp(1, max_side),
        ((h as f64 * scale).round() as u32).clamp(1, max_side),
    );
    image::imageops::resize(img, nw, nh, image::imageops::FilterType::Triangle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn a_large_photo_gives_a_page_no_larger_than_the_limit() {
        // A light page on a dark table, the page wider than the limit (400 here, for speed).
        let mut photo = RgbImage::from_pixel(1000, 500, Rgb([70, 60, 50]));
        for y in 50..450 {
            for x in 50..950 {
                photo.put_pixel(x, y, Rgb([235, 235, 228]));
            }
        }
        let s = straighten_within(&photo, 400);
        assert!(s.found.is_some(), "the page is found");
        assert_eq!(s.whole.as_ref().map(|w| w.dimensions()), Some((400, 200)));
        // The page's proportions are kept (900 × 400).
        let (w, h) = s.image.dimensions();
        assert_eq!(w, 400);
        assert!((h as f32 - 400.0 * 400.0 / 900.0).abs() <= 2.0, "{h}");
        // A flat scan (nothing stands out) is shrunk whole.
        let flat = RgbImage::from_pixel(1000, 500, Rgb([240, 240, 240]));
        let s = straighten_within(&flat, 400);
        assert!(s.found.is_none() && s.whole.is_none());
        assert_eq!(s.image.dimensions(), (400, 200));
    }

    #[test]
    fn a_page_within_the_limit_keeps_its_size() {
        let flat = RgbImage::from_pixel(1000, 700, Rgb([240, 240, 240]));
        assert_eq!(straighten(&flat).image.dimensions(), (1000, 700));
    }
}
