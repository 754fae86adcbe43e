//! Text normalisation shared by retrieval, answering, routing, redaction and the settings
//! files: one notion of "the same text" for question and document alike.
//!
//! **Invariants:** no IO and no dependencies on the rest of the crate; Han characters pass
//! through unchanged (only width, case and the ideographic space change).

/// Full-width ASCII to half-width (the ideographic space to a space), then lower-case. Chinese
/// text is unchanged. Questions, documents, synonym phrases and routing phrases are compared
/// in this form.
pub fn normalise(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// Full-width letters and digits (ＡＢＣ１２３) to half-width; case, spaces and Chinese
/// punctuation are kept. For numbers typed on a Chinese keyboard (identity, phone numbers).
pub fn normalise_width(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '０'..='９' | 'Ａ'..='Ｚ' | 'ａ'..='ｚ' => {
                char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
            }
            _ => c,
        })
        .collect()
}

/// Whether `c` is a Han character (the CJK unified ideographs, their extensions and the
/// compatibility ideographs).
pub fn is_han(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}' | '\u{20000}'..='\u{2FA1F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_folds_width_and_case_and_keeps_chinese() {
        assert_eq!(normalise("ＩＤ　Ｃａｒｄ１２３"), "id card123");
        assert_eq!(normalise("身份证（ＡＢ）？"), "身份证(ab)?");
        // Full-width forms of ASCII punctuation fold; 。、 have none and stay.
        assert_eq!(normalise("社保卡，怎么办。、"), "社保卡,怎么办。、");
        assert_eq!(normalise("Hello"), "hello");
        let once = normalise("ＡＢＣ　ｄｅｆ");
        assert_eq!(normalise(&once), once, "idempotent");
    }

    #[test]
    fn normalise_width_folds_letters_and_digits_only() {
        assert_eq!(normalise_width("１３８ＡＢｃ"), "138ABc");
        // Case, the ideographic space and full-width punctuation stay.
        assert_eq!(normalise_width("Ａ　（１）"), "A　（1）");
        assert_eq!(normalise_width("电话：１３８"), "电话：138");
    }

    #[test]
    fn han_characters_are_told_from_the_rest() {
        assert!(is_han('身') && is_han('㐀') && is_han('𠀀'));
        assert!(!is_han('a') && !is_han('1') && !is_han('，') && !is_han('の'));
    }
}
