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
pub mod intake;
pub mod locate;

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
}

impl std::fmt::Debug for Straightened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Straightened")
            .field("size", &self.image.dimensions())
            .field("found", &self.found)
            .finish()
    }
}

/// Finds the document in `scan` and warps it square-on. A photo in which no document stands
/// out (a flat scan, a document filling the frame) is returned whole. Turning the result by
/// quarter turns so its text reads upright needs the text itself: see
/// `ocr::OcrEngine::read_upright`.
pub fn straighten(scan: &Scan) -> Straightened {
    match find_document(scan.image()) {
        Some(found) => Straightened {
            image: rectify(scan.image(), &found.quad),
            found: Some(found),
        },
        None => Straightened {
            image: scan.image().clone(),
            found: None,
        },
    }
}
