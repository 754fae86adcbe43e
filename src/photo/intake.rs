//! Image intake: bytes from an upload become a [`Scan`], or an [`IntakeError`] that says in
//! Chinese what was wrong.
//!
//! The format is taken from the content (magic bytes), never from a file name. Only JPEG, PNG,
//! WebP and BMP are accepted. The byte size is checked first, then the pixel count **from the
//! header, before any pixel is decoded**, so a small file claiming a huge image (a decompression
//! bomb) costs nothing; the decoder also runs under `image::Limits` as a second line. The EXIF
//! orientation (JPEG APP1, PNG eXIf, WebP EXIF) is applied, so a phone photo taken upright is
//! upright here.

use std::fmt;
use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

/// What intake accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntakeLimits {
    /// Largest accepted upload, in bytes.
    pub max_bytes: usize,
    /// Largest accepted image, in pixels (width × height), read from the header.
    pub max_pixels: u64,
}

impl IntakeLimits {
    /// 20 MB.
    pub const DEFAULT_MAX_BYTES: usize = 20 * 1024 * 1024;
    /// 40 megapixels (a 48 Mpx phone sensor usually saves 12 Mpx pictures).
    pub const DEFAULT_MAX_PIXELS: u64 = 40_000_000;
}

impl Default for IntakeLimits {
    fn default() -> Self {
        IntakeLimits {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_pixels: Self::DEFAULT_MAX_PIXELS,
        }
    }
}

/// Why an upload was refused. The `Display` text is for the person who uploaded it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IntakeError {
    #[error("文件为空，请重新上传证件照片")]
    Empty,
    #[error("这不是图片文件，请上传证件的照片或扫描件（JPG、PNG、WebP 或 BMP）")]
    NotAnImage,
    #[error("不支持 {format} 格式的图片，请转换为 JPG、PNG、WebP 或 BMP 后重新上传")]
    UnsupportedFormat { format: String },
    #[error("文件过大（{} MB），请上传不超过 {} MB 的图片", mb(*bytes), mb(*limit))]
    TooLarge { bytes: usize, limit: usize },
    #[error(
        "图片尺寸过大（{w} × {h} 像素，超过 {} 万像素），请缩小后重新上传",
        limit / 10_000
    )]
    TooManyPixels { w: u32, h: u32, limit: u64 },
    #[error("图片文件已损坏或不完整，无法读取，请重新拍摄或扫描后上传")]
    Corrupt { detail: String },
}

fn mb(bytes: usize) -> String {
    let v = bytes as f64 / (1024.0 * 1024.0);
    if v >= 10.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A decoded, upright image of a document. Its `Debug` shows the size and the source format,
/// never the pixels (which are personal data).
#[derive(Clone)]
pub struct Scan {
    image: RgbImage,
    format: ImageFormat,
}

impl Scan {
    /// Wraps an image already in memory (tests, a rectified crop); the format is recorded as
    /// PNG.
    pub fn from_image(image: RgbImage) -> Scan {
        Scan {
            image,
            format: ImageFormat::Png,
        }
    }

    pub fn image(&self) -> &RgbImage {
        &self.image
    }

    pub fn into_image(self) -> RgbImage {
        self.image
    }

    /// The format found in the upload's content.
    pub fn format(&self) -> ImageFormat {
        self.format
    }

    pub fn width(&self) -> u32 {
        self.image.width()
    }

    pub fn height(&self) -> u32 {
        self.image.height()
    }
}

impl fmt::Debug for Scan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Scan({}×{} {:?})",
            self.image.width(),
            self.image.height(),
            self.format
        )
    }
}

/// The formats accepted, by content.
pub const ACCEPTED: [ImageFormat; 4] = [
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::WebP,
    ImageFormat::Bmp,
];

/// The format of `bytes` by content, if it is one intake accepts.
pub fn sniff(bytes: &[u8]) -> Result<ImageFormat, IntakeError> {
    if bytes.is_empty() {
        return Err(IntakeError::Empty);
    }
    match image::guess_format(bytes) {
        Ok(f) if ACCEPTED.contains(&f) => Ok(f),
        Ok(f) => Err(IntakeError::UnsupportedFormat {
            format: f
                .extensions_str()
                .first()
                .map(|e| e.to_uppercase())
                .unwrap_or_else(|| format!("{f:?}")),
        }),
        Err(_) if looks_like_heif(bytes) => Err(IntakeError::UnsupportedFormat {
            format: "HEIC".into(),
        }),
        Err(_) => Err(IntakeError::NotAnImage),
    }
}

/// iPhones save HEIC (an ISO-BMFF `ftyp` box with a HEIF brand).
fn looks_like_heif(bytes: &[u8]) -> bool {
    bytes.len() >= 12
        && &bytes[4..8] == b"ftyp"
        && matches!(
            &bytes[8..12],
            b"heic" | b"heix" | b"mif1" | b"msf1" | b"heim" | b"heis"
        )
}

/// Decodes an upload within `limits` and applies its EXIF orientation.
pub fn intake(bytes: &[u8], limits: &IntakeLimits) -> Result<Scan, IntakeError> {
    if bytes.len() > limits.max_bytes {
        return Err(IntakeError::TooLarge {
            bytes: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let format = sniff(bytes)?;
    // A decoder that refuses to allocate before the header is read has met something absurd
    // in the header: that is a broken file, not a large picture.
    let corrupt = |e: image::ImageError| IntakeError::Corrupt {
        detail: e.to_string(),
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // A second line behind the header check: the decoder itself refuses to allocate more
    // than the pixel budget needs (RGBA at 16 bits per channel, plus slack).
    let mut decoder_limits = Limits::default();
    decoder_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).max(64 << 20));
    reader.limits(decoder_limits);
    // Constructing the decoder reads the header only.
    let mut decoder = reader.into_decoder().map_err(corrupt)?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(IntakeError::Corrupt {
            detail: "zero-sized image".into(),
        });
    }
    if u64::from(w) * u64::from(h) > limits.max_pixels {
        return Err(IntakeError::TooManyPixels {
            w,
            h,
            limit: limits.max_pixels,
        });
    }
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| match e {
        image::ImageError::Limits(_) => IntakeError::TooManyPixels {
            w,
            h,
            limit: limits.max_pixels,
        },
        e => corrupt(e),
    })?;
    img.apply_orientation(orientation);
    Ok(Scan {
        image: img.into_rgb8(),
        format,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_bytes(img: &RgbImage) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    fn jpeg_bytes(img: &RgbImage) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Jpeg)
            .unwrap();
        out
    }

    /// A PNG signature, an IHDR chunk and the start of an IDAT chunk, nothing more.
    fn png_header(w: u32, h: u32) -> Vec<u8> {
        fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let start = out.len();
            out.extend_from_slice(kind);
            out.extend_from_slice(data);
            let crc = crc32(&out[start..]);
            out.extend_from_slice(&crc.to_be_bytes());
        }
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
        chunk(&mut out, b"IHDR", &ihdr);
        // A zlib stream header and a few bytes: what a bomb would continue for megabytes.
        chunk(&mut out, b"IDAT", &[0x78, 0x9c, 0xed, 0xc1, 0x01, 0x0d]);
        out
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    /// Inserts an APP1 Exif segment with only an Orientation tag right after the SOI marker.
    pub(crate) fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
        let mut tiff = Vec::new();
        tiff.extend_from_slice(b"MM\0\x2a\0\0\0\x08"); // big-endian, IFD0 at 8
        tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
        tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
        tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
        tiff.extend_from_slice(&1u32.to_be_bytes()); // count
        tiff.extend_from_slice(&orientation.to_be_bytes());
        tiff.extend_from_slice(&[0, 0]);
        tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xff, 0xe1]);
        out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(&app1);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn a_png_header_claiming_a_huge_image_is_refused_before_decoding() {
        let bytes = png_header(100_000, 100_000);
        assert!(bytes.len() < 100);
        let err = intake(&bytes, &IntakeLimits::default()).unwrap_err();
        assert_eq!(
            err,
            IntakeError::TooManyPixels {
                w: 100_000,
                h: 100_000,
                limit: IntakeLimits::DEFAULT_MAX_PIXELS
            }
        );
        assert!(err.to_string().contains("100000 × 100000"), "{err}");
    }

    #[test]
    fn pixel_limit_is_configurable() {
        let img = RgbImage::new(300, 200);
        let limits = IntakeLimits {
            max_pixels: 50_000,
            ..IntakeLimits::default()
        };
        let err = intake(&png_bytes(&img), &limits).unwrap_err();
        assert!(matches!(
            err,
            IntakeError::TooManyPixels { w: 300, h: 200, .. }
        ));
        assert!(intake(&png_bytes(&img), &IntakeLimits::default()).is_ok());
    }

    #[test]
    fn byte_limit() {
        let bytes = png_bytes(&RgbImage::new(64, 64));
        let limits = IntakeLimits {
            max_bytes: 10,
            ..IntakeLimits::default()
        };
        let err = intake(&bytes, &limits).unwrap_err();
        assert!(matches!(err, IntakeError::TooLarge { limit: 10, .. }));
        assert!(err.to_string().contains("文件过大"));
    }

    #[test]
    fn content_decides_not_the_name() {
        // A text file someone named x.jpg: intake never sees the name, only the bytes.
        let err = intake(
            b"this is not a picture, just text",
            &IntakeLimits::default(),
        );
        assert_eq!(err.unwrap_err(), IntakeError::NotAnImage);
        assert_eq!(
            intake(b"", &IntakeLimits::default()).unwrap_err(),
            IntakeError::Empty
        );
        // A PNG is read as a PNG whatever it is called.
        let scan = intake(&png_bytes(&RgbImage::new(8, 4)), &IntakeLimits::default()).unwrap();
        assert_eq!(scan.format(), ImageFormat::Png);
        assert_eq!(format!("{scan:?}"), "Scan(8×4 Png)");
    }

    #[test]
    fn other_image_formats_are_named_in_the_refusal() {
        let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;";
        let err = intake(gif, &IntakeLimits::default()).unwrap_err();
        assert_eq!(
            err,
            IntakeError::UnsupportedFormat {
                format: "GIF".into()
            }
        );
        let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic";
        let err = intake(heic, &IntakeLimits::default()).unwrap_err();
        assert!(err.to_string().contains("HEIC"), "{err}");
    }

    #[test]
    fn truncated_files_are_corrupt() {
        let bytes = jpeg_bytes(&RgbImage::from_pixel(64, 64, image::Rgb([200, 10, 10])));
        let err = intake(&bytes[..bytes.len() / 3], &IntakeLimits::default()).unwrap_err();
        assert!(matches!(err, IntakeError::Corrupt { .. }), "{err:?}");
        assert!(err.to_string().contains("损坏"));
    }

    #[test]
    fn exif_orientation_is_applied() {
        // 40 × 20, left half black, right half white; orientation 6 = rotate 90° clockwise to
        // display, so the upright image is 20 × 40 with black on top.
        let img = RgbImage::from_fn(40, 20, |x, _| {
            if x < 20 {
                image::Rgb([0, 0, 0])
            } else {
                image::Rgb([255, 255, 255])
            }
        });
        let jpeg = with_exif_orientation(&jpeg_bytes(&img), 6);
        let scan = intake(&jpeg, &IntakeLimits::default()).unwrap();
        assert_eq!((scan.width(), scan.height()), (20, 40));
        assert!(scan.image().get_pixel(10, 5)[0] < 60);
        assert!(scan.image().get_pixel(10, 35)[0] > 200);
        // Orientation 3 = 180°: black ends up on the right.
        let jpeg = with_exif_orientation(&jpeg_bytes(&img), 3);
        let scan = intake(&jpeg, &IntakeLimits::default()).unwrap();
        assert_eq!((scan.width(), scan.height()), (40, 20));
        assert!(scan.image().get_pixel(35, 10)[0] < 60);
    }
}
