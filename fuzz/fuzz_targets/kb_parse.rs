//! The knowledge-base document parser: any text as a document file (front matter, sections,
//! situations, FAQ entries). Problems are reported, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = xiaoban::kb::parse::parse_document(Path::new("fuzz.md"), &text);
});
