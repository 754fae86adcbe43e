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

/// The value of a Chinese digit (两 and 〇 included).
fn digit(c: char) -> Option<u64> {
    "零一二三四五六七八九"
        .chars()
        .position(|d| d == c)
        .map(|d| d as u64)
        .or(match c {
            '〇' => Some(0),
            '两' => Some(2),
            _ => None,
        })
}

/// The value of a unit character below 万.
fn small_unit(c: char) -> Option<u64> {
    match c {
        '十' => Some(10),
        '百' => Some(100),
        '千' => Some(1000),
        _ => None,
    }
}

/// The numbers a text writes in Chinese numerals, in Arabic digits: "三千六" (3600, a trailing
/// digit counting in the unit below the last one, as people say amounts), "十五年" (15),
/// "两百" (200), "一万二" (12000), "二〇二四" (2024). Guides print amounts, ages and years in
/// digits; a question typed in words would otherwise share nothing with them. A run counts as
/// a number only if it starts with a digit or 十 and holds a unit (十百千万) or three or more
/// digits, so 一起, 二手房, 两三天, 万一 and 千万 are no numbers.
pub fn chinese_numbers(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let is_numeral = |c: char| digit(c).is_some() || small_unit(c).is_some() || c == '万';
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !is_numeral(chars[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_numeral(chars[i]) {
            i += 1;
        }
        if let Some(n) = numeral_value(&chars[start..i]) {
            out.push(n.to_string());
        }
    }
    out
}

/// The value of one run of numeral characters ([`chinese_numbers`]), or `None` if it is no
/// number (or too large to be one).
fn numeral_value(run: &[char]) -> Option<u64> {
    let has_unit = run.iter().any(|&c| small_unit(c).is_some() || c == '万');
    if run.first().is_none_or(|&c| digit(c).is_none() && c != '十') {
        return None;
    }
    if !has_unit {
        // Digits read one by one (二〇二四); two alone are a guess (两三天, 七八个).
        if run.len() < 3 {
            return None;
        }
        return run
            .iter()
            .try_fold(0u64, |n, &c| n.checked_mul(10)?.checked_add(digit(c)?));
    }
    let (mut total, mut section) = (0u64, 0u64);
    let mut pending: Option<u64> = None;
    let mut last_unit = 1u64;
    for &c in run {
        if let Some(d) = digit(c) {
            if pending.is_some() {
                return None;
            }
            if d == 0 {
                // 零 holds a place: the digit after it counts as itself (一千零六).
                last_unit = 1;
            } else {
                pending = Some(d);
            }
        } else if let Some(u) = small_unit(c) {
            // 十 alone is one ten (十五); 百 and 千 need their digit.
            let n = pending.take().or((u == 10).then_some(1))?;
            section = section.checked_add(n * u)?;
            last_unit = u;
        } else {
            // 万 closes a section.
            if section == 0 && pending.is_none() {
                return None;
            }
            let sum = total
                .checked_add(section)?
                .checked_add(pending.take().unwrap_or(0))?;
            total = sum.checked_mul(10_000)?;
            section = 0;
            last_unit = 10_000;
        }
    }
    if let Some(d) = pending {
        // A digit after a unit counts in the unit below it, as amounts are said (三千六,
        // 一万二); after a ten or 零 it is itself (十五).
        section = section.checked_add(if last_unit >= 100 {
            d * last_unit / 10
        } else {
            d
        })?;
    }
    total.checked_add(section)
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
    fn chinese_numerals_are_read_as_people_say_them() {
        for (text, want) in [
            ("每年三千六", vec!["3600"]),
            ("交满十五年", vec!["15"]),
            ("两百块", vec!["200"]),
            ("一万二的工资", vec!["12000"]),
            ("八万", vec!["80000"]),
            ("一千零六", vec!["1006"]),
            ("六十岁和七十五岁", vec!["60", "75"]),
            ("二〇二四年", vec!["2024"]),
            ("三十万", vec!["300000"]),
        ] {
            assert_eq!(chinese_numbers(text), want, "{text}");
        }
        // Numerals in words are no numbers.
        for text in [
            "一起办",
            "二手房",
            "万一不行",
            "千万别去",
            "三证合一",
            "一下",
            "两三天",
        ] {
            assert!(chinese_numbers(text).is_empty(), "{text}");
        }
        // A run too long to be a number is none, not an overflow.
        assert!(chinese_numbers(&"九".repeat(30)).is_empty());
        assert!(chinese_numbers(&"九千万".repeat(8)).is_empty());
    }

    #[test]
    fn han_characters_are_told_from_the_rest() {
        assert!(is_han('身') && is_han('㐀') && is_han('𠀀'));
        assert!(!is_han('a') && !is_han('1') && !is_han('，') && !is_han('の'));
    }
}
