//! Identifier parsers: identity numbers (GB 11643), unified social credit codes (GB 32100),
//! their check characters, and the redaction that finds such numbers in free text.
#![no_main]

use chrono::NaiveDate;
use libfuzzer_sys::fuzz_target;
use xiaoban::ident::{CreditCode, IdNumber, id_check_character};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let today = NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date");
    if let Ok(id) = IdNumber::parse_at(&text, today) {
        let _ = (id.region_code(), id.birth_date(), id.sex(), id.masked());
    }
    let _ = id_check_character(&text);
    if let Ok(code) = CreditCode::parse(&text) {
        let _ = (
            code.registering_authority(),
            code.organisation_type(),
            code.region_code(),
            code.is_individual_business(),
        );
    }
    let _ = CreditCode::check_characters(&text);
    let redacted = xiaoban::privacy::redact(&text);
    let _ = redacted.found.len();
});
