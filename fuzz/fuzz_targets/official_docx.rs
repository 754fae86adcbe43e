//! A Word file: any bytes as a .docx (ZIP of XML), then the recognition of the official document in it. Problems are reported, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xiaoban::kb::official::{batch::Format, recognise};

fuzz_target!(|data: &[u8]| {
    if let Ok(extracted) = Format::Docx.read(data) {
        let _ = recognise(&extracted);
    }
});
