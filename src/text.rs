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

/// The value of a Chinese digit, plain or 大写 (两 and 〇 included).
fn digit(c: char) -> Option<u64> {
    let at = |digits: &str| digits.chars().position(|d| d == c).map(|d| d as u64);
    at("零一二三四五六七八九")
        .or_else(|| at("〇壹贰叁肆伍陆柒捌玖"))
        .or((c == '两').then_some(2))
}

/// The value of a unit character below 万.
fn small_unit(c: char) -> Option<u64> {
    match c {
        '十' | '拾' => Some(10),
        '百' | '佰' => Some(100),
        '千' | '仟' => Some(1000),
        _ => None,
    }
}

fn is_numeral(c: char) -> bool {
    digit(c).is_some() || small_unit(c).is_some() || matches!(c, '万' | '萬')
}

/// The value of the Chinese numeral `s` starts with, read up to the first other character:
/// 二十 → 20, 两 → 2, 一百零五 → 105, 三个月 → 3, 三千六 → 3600 (a digit after 百, 千 or 万
/// counts in the unit below it, as amounts are said), 二〇二四 → 2024 (digits alone are read
/// one by one). `None` if it starts with no numeral, is no well-formed number (三四百) or is
/// too large.
pub fn numeral_value(s: &str) -> Option<u64> {
    let run: Vec<char> = s.chars().take_while(|&c| is_numeral(c)).collect();
    if run.is_empty() {
        return None;
    }
    if run.iter().all(|&c| digit(c).is_some()) {
        return run
            .iter()
            .try_fold(0u64, |n, &c| n.checked_mul(10)?.checked_add(digit(c)?));
    }
    let (mut total, mut section) = (0u64, 0u64);
    let mut pending: Option<u64> = None;
    let mut last_unit = 1u64;
    for &c in &run {
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
            // A unit with no digit before it is one of it (十五).
            section = section.checked_add(pending.take().unwrap_or(1) * u)?;
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
        // After a ten or 零 a digit is itself (十五, 一千零六).
        section = section.checked_add(if last_unit >= 100 {
            d * last_unit / 10
        } else {
            d
        })?;
    }
    total.checked_add(section)
}

/// The numbers a question writes in Chinese numerals, in Arabic digits ([`numeral_value`]):
/// "每年三千六" → 3600, "十五年" → 15, "两百" → 200. Guides print amounts, ages and years in
/// digits; a question typed in words would otherwise share nothing with them. A run counts as
/// a number only if it starts with a digit or 十 and holds a unit (十百千万) or three or more
/// digits, so 一起, 二手房, 两三天, 万一 and 千万 are no numbers.
pub fn chinese_numbers(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
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
        let run = &chars[start..i];
        let starts_well = digit(run[0]).is_some() || small_unit(run[0]) == Some(10);
        let has_unit = run.iter().any(|&c| digit(c).is_none());
        if starts_well
            && (has_unit || run.len() >= 3)
            && let Some(n) = numeral_value(&run.iter().collect::<String>())
        {
            out.push(n.to_string());
        }
    }
    out
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
