//! Image intake: any bytes, as an upload, through format sniffing, the header's size check,
//! decoding under the limits and EXIF orientation. Never a panic; memory bounded by the pixel
//! limit checked before decoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xiaoban::photo::intake::{IntakeLimits, intake};

fuzz_target!(|data: &[u8]| {
    // The server's limits, smaller in pixels so that one input stays well under -rss_limit_mb.
    let limits = IntakeLimits {
        max_bytes: IntakeLimits::DEFAULT_MAX_BYTES,
        max_pixels: 4_000_000,
    };
    if let Ok(scan) = intake(data, &limits) {
        assert!(u64::from(scan.width()) * u64::from(scan.height()) <= limits.max_pixels);
    }
});
