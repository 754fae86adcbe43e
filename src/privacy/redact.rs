//! Finds identity numbers, mobile numbers and bank card numbers in free text and replaces them
//! with the masked forms of DOMAIN.md (ID 1101**********123X, phone 138****5678).

use regex::Regex;
use std::sync::LazyLock;

/// Groups of digits separated by single spaces or dashes ("138 1234 5678", "6222-0212-…").
static DIGIT_RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\d+[Xx]?(?:[ \-]\d+[Xx]?)*").expect("valid regex"));

/// Text with personal numbers masked, and what kinds were found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    pub text: String,
    pub found: Vec<&'static str>,
}

fn mask(s: &str, front: usize, back: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    let stars = n.saturating_sub(front + back);
    chars[..front.min(n)]
        .iter()
        .chain(std::iter::repeat_n(&'*', stars))
        .chain(chars[n.saturating_sub(back).max(front.min(n))..].iter())
        .collect()
}

/// What a run of digits is, by its shape: `None` for numbers that are not personal
/// (amounts, dates, short codes).
fn classify(digits: &str) -> Option<(&'static str, String)> {
    let n = digits.len();
    let all_digits = digits.bytes().all(|b| b.is_ascii_digit());
    // Bytes, not `str` slices: a run may hold other scripts' digits (߀ is two bytes).
    let id_like = n == 18
        && digits.as_bytes()[..17].iter().all(u8::is_ascii_digit)
        && matches!(digits.as_bytes()[17], b'0'..=b'9' | b'X' | b'x');
    if id_like || (n == 15 && all_digits) {
        return Some(("identity_number", mask(&digits.to_uppercase(), 4, 4)));
    }
    if !all_digits {
        return None;
    }
    let b = digits.as_bytes();
    if n == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) {
        return Some(("mobile_number", mask(digits, 3, 4)));
    }
    if (16..=19).contains(&n) {
        return Some(("bank_card_number", mask(digits, 4, 4)));
    }
    None
}

/// Masks every identity, mobile and bank card number in `text`, also when written with
/// spaces or dashes between digit groups, or in full-width digits.
pub fn redact(text: &str) -> Redacted {
    let text = crate::text::normalise_width(text);
    let mut out = String::with_capacity(text.len());
    let mut found = Vec::new();
    let mut last = 0;
    for m in DIGIT_RUN.find_iter(&text) {
        out.push_str(&text[last..m.start()]);
        last = m.end();
        // Digit groups with their byte ranges inside the run.
        let run = m.as_str();
        let groups: Vec<(usize, usize)> = run
            .char_indices()
            .filter(|(_, c)| *c == ' ' || *c == '-')
            .map(|(i, _)| i)
            .chain(std::iter::once(run.len()))
            .scan(0, |start, sep| {
                let g = (*start, sep);
                *start = sep + 1;
                Some(g)
            })
            .collect();
        let mut i = 0;
        let mut copied = 0; // bytes of `run` already written
        while i < groups.len() {
            // The longest span of groups, starting at i, that is a personal number.
            let hit = (i + 1..=groups.len()).rev().find_map(|j| {
                let span = &run[groups[i].0..groups[j - 1].1];
                let digits: String = span.chars().filter(|c| *c != ' ' && *c != '-').collect();
                classify(&digits).map(|k| (j, k))
            });
            match hit {
                Some((j, (kind, masked))) => {
                    out.push_str(&run[copied..groups[i].0]);
                    out.push_str(&masked);
                    copied = groups[j - 1].1;
                    if !found.contains(&kind) {
                        found.push(kind);
                    }
                    i = j;
                }
                None => i += 1,
            }
        }
        out.push_str(&run[copied..]);
    }
    out.push_str(&text[last..]);
    Redacted { text: out, found }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Found by fuzz/ (target ident): a digit run with a two-byte digit (U+07C0) where an
    // identity number's 17th byte would be panicked on a char boundary.
    #[test]
    fn a_run_with_other_scripts_digits_does_not_panic() {
        let r = redact("\u{688}11010519491231 00\u{7c0}\u{7c0}99491231-x");
        assert!(!r.text.is_empty());
        let fuzzed = b"\xda\x88\x91\x31\x31\x30\x31\x30\x35\x31\x39\x34\x39\x31\x32\x33\x31\x30\x30\xdf\x80\xaf\x39\x39\x34\x39\x31\x32\x33\x31";
        let _ = redact(&String::from_utf8_lossy(fuzzed));
        let digits = format!("{}\u{7c0}", "1".repeat(16));
        assert_eq!(digits.len(), 18);
        assert_eq!(classify(&digits), None);
    }

    // DOMAIN.md "Personal information and security": masked display ID 1101**********123X,
    // phone 138****5678; logs and conversation records never contain full identity numbers.
    #[test]
    fn identity_mobile_and_card_numbers_are_masked() {
        let r = redact("证件号11010519491231002x，电话13812345678，卡号6222 0212 3456 7890 123");
        assert_eq!(
            r.text,
            "证件号1101**********002X，电话138****5678，卡号6222***********0123"
        );
        assert_eq!(
            r.found,
            vec!["identity_number", "mobile_number", "bank_card_number"]
        );
    }

    #[test]
    fn full_width_and_spaced_numbers_are_caught() {
        let r = redact("号码是１３８ １２３４ ５６７８");
        assert_eq!(r.text, "号码是138****5678");
        let r = redact("老身份证110105491231002");
        assert_eq!(r.text, "老身份证1101*******1002");
        let r = redact("电话13812345678 6222021234567890123");
        assert_eq!(r.text, "电话138****5678 6222***********0123");
    }

    #[test]
    fn ordinary_numbers_are_left_alone() {
        for t in [
            "工本费20元",
            "2024年1月1日",
            "拨打12345",
            "编号2025000123",
            "国办发〔2019〕51号",
        ] {
            assert_eq!(redact(t).text, t);
            assert!(redact(t).found.is_empty());
        }
    }
}
