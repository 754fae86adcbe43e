//! Correcting a misread identity number or credit code with its check character.
//!
//! The recogniser (PP-OCR) reads Chinese text well but confuses some digits in the OCR-B font
//! cards print (1 read as 7, 0 as 8, …). For each character it keeps the other characters it
//! weighed (`ocr::recognise::ctc_greedy`). Identity numbers end in a check character (GB
//! 11643-1999 §5: ISO 7064 MOD 11-2 over the 17 digits before it) and credit codes in two (GB
//! 32100-2015: the GB 11714 organisation-code check at position 17 and a MOD 31 check at 18),
//! so when the reading fails its check, the readings the recogniser itself found plausible can
//! be tried:
//!
//! 1. only the field's alphabet counts: digits (and X last) for an identity number, GB 32100's
//!    31 characters (0–9, A–Z without I O S V Z) for a credit code;
//! 2. a position is doubtful when an alternative in that alphabet has at least
//!    [`MIN_ALTERNATIVE`] probability; its two most probable characters are tried (at most
//!    [`MAX_DOUBTFUL`] positions, the most doubtful ones, so at most 2^8 readings);
//! 3. a reading is valid when its check characters hold and — for an identity number — its
//!    region code is a province and its birth date a real date not after today (GB 11643 §4);
//! 4. the most probable valid reading is taken only if it is unambiguous: no other valid
//!    reading has even [`AMBIGUITY`] times its probability. Otherwise the reading stays as
//!    read and its check fails (or goes to review when one look-alike explains it).
//!
//! Before that, a digit that cannot stand where it was read — the birth year's first digit
//! other than 1 or 2, the month's other than 0 or 1, the day's above 3 (GB 11643 §4.2) — is
//! replaced by the recogniser's most probable alternative that can. This needs no check
//! character, so it also mends the birth date of a number whose check character is wrong
//! (that check still fails). The field's confidence becomes the alternative's probability,
//! which is below one half (the read digit was more probable), so the field goes to review.
//!
//! A correction never makes a document pass by itself: the check character was used up to
//! choose the reading, so it no longer shows the number is genuine (one number in eleven has a
//! valid check character by chance). The analysis therefore reports the check as "corrected,
//! a person must look" (`misread_possible`), which makes the verdict `review` at best, and the
//! field's confidence becomes the lowest probability of a character it changed. A number with
//! a wrong check character that the recogniser read confidently has no doubtful position and
//! is never corrected: it still fails.

use super::field::{Field, FieldValue, Stream, digit_like, find_credit_code, find_id_number};
use super::page::OcrPage;
use crate::ident::{CreditCode, IdNumber};
use chrono::NaiveDate;
use std::collections::BTreeMap;

/// An alternative character counts when the recogniser gave it at least this probability.
pub const MIN_ALTERNATIVE: f32 = 0.05;
/// At most this many doubtful positions are tried.
pub const MAX_DOUBTFUL: usize = 8;
/// A second valid reading at least this fraction as probable as the best makes the choice
/// ambiguous.
pub const AMBIGUITY: f32 = 0.1;

/// What a correction changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Correction {
    /// The field's name (`id_number` or `credit_code`).
    pub field: &'static str,
    /// How many characters were changed.
    pub changed: usize,
}

impl Correction {
    /// The rule whose result the correction changes.
    pub fn rule(&self) -> &'static str {
        match self.field {
            "id_number" => "gb11643.check_character",
            _ => "gb32100.check_character",
        }
    }

    /// What the clerk reads in place of the check's own detail.
    pub fn detail(&self) -> String {
        format!(
            "识别结果的校验码不符；在识别器对易混字符给出的读法中，只有一种（改动 {} 个字符）使校验码成立，已按此填入。校验码已用于纠错，不能再证明号码无误，请人工核对原件",
            self.changed
        )
    }
}

/// One position of a reading: its candidates, most probable first (the read character first).
type Position = Vec<(char, f32)>;

/// The candidates of one read character (mapped by `norm`) restricted to `allowed`, the read
/// one first.
fn position(
    read: char,
    conf: f32,
    alts: &[(char, f32)],
    norm: fn(char) -> char,
    allowed: impl Fn(char) -> bool,
) -> Position {
    let mut out: Position = vec![(norm(read), conf)];
    for &(c, p) in alts {
        let c = norm(c);
        if p < MIN_ALTERNATIVE || !allowed(c) {
            continue;
        }
        match out.iter_mut().find(|(x, _)| *x == c) {
            Some(e) => e.1 = e.1.max(p),
            None => out.push((c, p)),
        }
    }
    out[1..].sort_by(|a, b| b.1.total_cmp(&a.1));
    out
}

/// An identity number's character as `find_id_number` maps it.
fn normalise(c: char) -> char {
    match c {
        'x' | '×' | 'Ｘ' => 'X',
        c => digit_like(c).to_ascii_uppercase(),
    }
}

/// The unambiguous most probable valid reading, if the reading itself is not valid: the
/// reading and the positions changed with their probabilities.
pub fn choose(positions: &[Position], valid: impl Fn(&str) -> bool) -> Option<(String, Vec<f32>)> {
    let read: String = positions.iter().map(|p| p[0].0).collect();
    if valid(&read) {
        return None;
    }
    // The most doubtful positions: the runner-up closest to the read character.
    let mut doubtful: Vec<usize> = (0..positions.len())
        .filter(|&i| positions[i].len() > 1)
        .collect();
    let ratio = |i: usize| positions[i][1].1 / positions[i][0].1.max(1e-6);
    doubtful.sort_by(|&a, &b| ratio(b).total_cmp(&ratio(a)));
    doubtful.truncate(MAX_DOUBTFUL);
    let mut valid_readings: Vec<(f32, String, Vec<f32>)> = Vec::new();
    for mask in 1u32..(1 << doubtful.len()) {
        let mut chars: Vec<char> = positions.iter().map(|p| p[0].0).collect();
        let mut ratio_product = 1.0f32;
        let mut changed = Vec::new();
        for (bit, &i) in doubtful.iter().enumerate() {
            if mask & (1 << bit) != 0 {
                chars[i] = positions[i][1].0;
                ratio_product *= ratio(i);
                changed.push(positions[i][1].1);
            }
        }
        let s: String = chars.into_iter().collect();
        if valid(&s) {
            valid_readings.push((ratio_product, s, changed));
        }
    }
    valid_readings.sort_by(|a, b| b.0.total_cmp(&a.0));
    match valid_readings.as_slice() {
        [(_, s, changed)] => Some((s.clone(), changed.clone())),
        [(best, s, changed), (second, ..), ..] if *second < AMBIGUITY * best => {
            Some((s.clone(), changed.clone()))
        }
        _ => None,
    }
}

/// Where `value` was read in the stream: the start of the first 18-character run that
/// `find` finds and `norm` turns into it.
fn locate(
    s: &Stream,
    value: &str,
    find: impl Fn(&str) -> Option<usize>,
    norm: fn(char) -> char,
) -> Option<usize> {
    let text = s.text(0..s.len());
    let chars: Vec<char> = text.chars().collect();
    let mut from = 0;
    while from + 18 <= chars.len() {
        let rest: String = chars[from..].iter().collect();
        let at = from + find(&rest)?;
        let candidate: String = chars[at..at + 18].iter().map(|&c| norm(c)).collect();
        if candidate == value {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn apply(
    fields: &mut BTreeMap<String, Field>,
    name: &'static str,
    value: String,
    changed: &[f32],
) -> Option<Correction> {
    let f = fields.get_mut(name)?;
    let personal = f.value.is_personal();
    f.value = if personal {
        FieldValue::personal(value)
    } else {
        FieldValue::public(value)
    };
    f.confidence = changed.iter().copied().fold(f.confidence, f32::min);
    Some(Correction {
        field: name,
        changed: changed.len(),
    })
}

/// Corrects the `id_number` of a card's front read from `s` (see the module documentation).
pub fn id_number(
    s: &Stream,
    fields: &mut BTreeMap<String, Field>,
    today: NaiveDate,
) -> Option<Correction> {
    let value = fields.get("id_number")?.value.expose().to_owned();
    let at = locate(
        s,
        &value,
        |t| find_id_number(t).map(|(at, _)| at),
        normalise,
    )?;
    let mut positions: Vec<Position> = s
        .readings(at..at + 18)
        .enumerate()
        .map(|(i, (c, conf, alts))| {
            position(c, conf, alts, normalise, |c| {
                c.is_ascii_digit() || (i == 17 && c == 'X')
            })
        })
        .collect();
    let impossible = birth_date_positions(&mut positions);
    let valid = |n: &str| IdNumber::parse_at(n, today).is_ok();
    match choose(&positions, valid) {
        Some((v, changed)) => apply(
            fields,
            "id_number",
            v,
            &[impossible.as_slice(), &changed].concat(),
        ),
        None if !impossible.is_empty() => {
            let v: String = positions.iter().map(|p| p[0].0).collect();
            apply(fields, "id_number", v, &impossible);
            // The check character was not used: its check runs on the number as corrected.
            None
        }
        None => None,
    }
}

/// The digits each birth-date position of an 18-character identity number can hold (GB
/// 11643-1999 §4.2: positions 7–14 are the birth date YYYYMMDD): the year starts with 1 or 2,
/// the month's first digit is 0 or 1, the day's 0–3.
const BIRTH_DATE_DIGITS: [(usize, &str); 3] = [(6, "12"), (10, "01"), (12, "0123")];

/// Where the read digit cannot stand at its birth-date position, takes the recogniser's most
/// probable alternative that can (the read digit is dropped). Returns the probabilities of the
/// alternatives taken. Such a digit is impossible whatever the check character says, so this
/// also helps a number whose check character is wrong (and whose check must still fail).
fn birth_date_positions(positions: &mut [Position]) -> Vec<f32> {
    let mut taken = Vec::new();
    for (i, allowed) in BIRTH_DATE_DIGITS {
        let Some(p) = positions.get_mut(i) else {
            continue;
        };
        if allowed.contains(p[0].0) {
            continue;
        }
        // The alternatives are sorted by probability: the first possible one is the best.
        if let Some(k) = (1..p.len()).find(|&k| allowed.contains(p[k].0)) {
            let chosen = p.remove(k);
            p[0] = chosen;
            taken.push(chosen.1);
        }
    }
    taken
}

/// Corrects the `credit_code` of a licence read from `s` (see the module documentation).
pub fn credit_code(s: &Stream, fields: &mut BTreeMap<String, Field>) -> Option<Correction> {
    let value = fields.get("credit_code")?.value.expose().to_owned();
    let at = locate(
        s,
        &value,
        |t| find_credit_code(t).map(|(r, _)| r.start),
        normalise_code,
    )?;
    let gb32100 = |c: char| {
        (c.is_ascii_digit() || c.is_ascii_uppercase()) && !matches!(c, 'I' | 'O' | 'S' | 'V' | 'Z')
    };
    let positions: Vec<Position> = s
        .readings(at..at + 18)
        .map(|(c, conf, alts)| position(c, conf, alts, normalise_code, gb32100))
        .collect();
    let (v, changed) = choose(&positions, |c| CreditCode::parse(c).is_ok())?;
    apply(fields, "credit_code", v, &changed)
}

/// A credit code's character as `find_credit_code` maps it.
fn normalise_code(c: char) -> char {
    match c.to_ascii_uppercase() {
        'O' => '0',
        'I' => '1',
        'Z' => '2',
        'S' => '5',
        c @ '０'..='９' => digit_like(c),
        c => c,
    }
}

/// Corrects the identity number or credit code on `page` when its check fails (see the module
/// documentation).
pub fn correct(
    t: super::DocumentType,
    page: &OcrPage,
    fields: &mut BTreeMap<String, Field>,
    today: NaiveDate,
) -> Option<Correction> {
    match t {
        super::DocumentType::IdCardFront => id_number(&super::card::stream_of(page), fields, today),
        super::DocumentType::BusinessLicense => {
            credit_code(&super::licence::stream_of(page), fields)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::page::{line_at, page_of};
    use super::*;
    use crate::ident::id_check_character;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
    }

    fn number(body17: &str) -> String {
        format!("{body17}{}", id_check_character(body17).unwrap())
    }

    /// A front whose number line reads `read`, each character at 0.95 unless `doubts` gives
    /// it a lower confidence and alternatives.
    /// A position of the number line, its confidence and its alternatives.
    type Doubt<'a> = (usize, f32, &'a [(char, f32)]);

    fn front(read: &str, doubts: &[Doubt<'_>]) -> OcrPage {
        let mut line = line_at(read, 0.95, 260.0, 418.0, 400.0, 30.0);
        line.alternatives = vec![Vec::new(); read.chars().count()];
        for &(i, conf, alts) in doubts {
            line.char_confidences[i] = conf;
            line.alternatives[i] = alts.to_vec();
        }
        page_of(
            856,
            540,
            vec![
                line_at("姓名张三", 0.98, 60.0, 50.0, 125.0, 24.0),
                line_at("公民身份号码", 0.99, 60.0, 420.0, 150.0, 24.0),
                line,
            ],
        )
    }

    fn run(page: &OcrPage) -> (Option<Correction>, BTreeMap<String, Field>) {
        let mut fields = super::super::card::extract_front(page);
        let c = correct(
            super::super::DocumentType::IdCardFront,
            page,
            &mut fields,
            today(),
        );
        (c, fields)
    }

    // GB 11643: the OCR-B 1 read as 7 with 1 as the runner-up; only 1 makes the check
    // character hold, so the number is corrected and its confidence is the 1's probability.
    #[test]
    fn a_one_read_as_seven_is_corrected_by_the_check_character() {
        let truth = number("61011319750316885");
        let mut read: Vec<char> = truth.chars().collect();
        read[4] = '7';
        let read: String = read.into_iter().collect();
        let (c, f) = run(&front(&read, &[(4, 0.55, &[('1', 0.42), ('人', 0.02)])]));
        assert_eq!(
            c,
            Some(Correction {
                field: "id_number",
                changed: 1
            })
        );
        assert_eq!(f["id_number"].value.expose(), truth);
        assert!((f["id_number"].confidence - 0.42).abs() < 1e-6);
    }

    // A wrong check character read confidently is left alone: the check must still fail.
    #[test]
    fn a_confident_reading_with_a_bad_check_character_is_not_corrected() {
        let good = number("11010519900307003");
        let bad = format!(
            "{}{}",
            &good[..17],
            if good.ends_with('1') { '2' } else { '1' }
        );
        let (c, f) = run(&front(&bad, &[]));
        assert_eq!(c, None);
        assert_eq!(f["id_number"].value.expose(), bad);
        // Alternatives below the floor are not tried either.
        let (c, _) = run(&front(&bad, &[(17, 0.9, &[('0', 0.04), ('X', 0.03)])]));
        assert_eq!(c, None);
    }

    // GB 11643-1999 §4.2: positions 7–14 are the birth date, so the year's first digit is 1
    // or 2. The OCR-B 1 read as 7 (p 0.526) over 1 (p 0.466), as on two clean specimens whose
    // check character is deliberately wrong: the 1 is taken without the check character, the
    // check still fails, and the field's confidence drops to the 1's (review at best).
    #[test]
    fn an_impossible_birth_year_digit_takes_the_recognisers_alternative() {
        let good = number("11010519900307003");
        let bad_check = format!(
            "{}{}",
            &good[..17],
            if good.ends_with('1') { '2' } else { '1' }
        );
        for truth in [good.as_str(), bad_check.as_str()] {
            let mut read: Vec<char> = truth.chars().collect();
            read[6] = '7';
            let read: String = read.into_iter().collect();
            let (c, f) = run(&front(&read, &[(6, 0.526, &[('1', 0.466), ('4', 0.003)])]));
            assert_eq!(c, None, "{truth}");
            assert_eq!(f["id_number"].value.expose(), truth);
            assert!((f["id_number"].confidence - 0.466).abs() < 1e-6);
            assert!(f["id_number"].confidence < verdict_floor());
        }
        let today = today();
        assert!(IdNumber::parse_at(&good, today).is_ok());
        assert!(IdNumber::parse_at(&bad_check, today).is_err());
    }

    fn verdict_floor() -> f32 {
        super::super::verdict::MIN_CONFIDENCE
    }

    // The month's first digit (0 or 1) and the day's (0–3): an impossible one with no
    // possible alternative is left as read; a possible one is never replaced.
    #[test]
    fn birth_date_position_rule() {
        let mut p: Vec<Position> = "110105199003070036"
            .chars()
            .map(|c| vec![(c, 0.9)])
            .collect();
        p[10] = vec![('8', 0.6), ('0', 0.3)];
        p[12] = vec![('5', 0.7), ('S', 0.2)];
        p[6] = vec![('1', 0.6), ('7', 0.4)];
        assert_eq!(birth_date_positions(&mut p), vec![0.3]);
        assert_eq!(p[10], vec![('0', 0.3)]);
        assert_eq!(p[12][0].0, '5');
        assert_eq!(p[6], vec![('1', 0.6), ('7', 0.4)]);
        // The best possible alternative, not merely the first listed one beyond the read.
        let mut p: Vec<Position> = "110105799003070036"
            .chars()
            .map(|c| vec![(c, 0.9)])
            .collect();
        p[6] = vec![('7', 0.5), ('9', 0.3), ('2', 0.1), ('1', 0.06)];
        assert_eq!(birth_date_positions(&mut p), vec![0.1]);
        assert_eq!(p[6], vec![('2', 0.1), ('9', 0.3), ('1', 0.06)]);
    }

    // Two doubtful digits whose alternatives each make a valid number: ambiguous, no choice.
    #[test]
    fn ambiguous_corrections_are_refused() {
        let positions: Vec<Position> = "1234".chars().map(|c| vec![(c, 0.9)]).collect();
        let mut p = positions.clone();
        p[1] = vec![('2', 0.5), ('7', 0.45)];
        p[3] = vec![('4', 0.5), ('1', 0.4)];
        let valid = |s: &str| s == "1734" || s == "1231";
        assert_eq!(choose(&p, valid), None);
        // One clearly more probable than the other: taken.
        p[3] = vec![('4', 0.9), ('1', 0.06)];
        assert_eq!(choose(&p, valid), Some(("1734".into(), vec![0.45])));
        // The reading itself valid: nothing to correct.
        assert_eq!(choose(&positions, |s| s == "1234"), None);
    }

    // GB 32100: a credit code's misread letter corrected through both check characters; the
    // letters the standard excludes are never offered.
    #[test]
    fn credit_code_alphabet_and_checks() {
        let truth = "92440303RWJA1N3G5D";
        assert!(CreditCode::parse(truth).is_ok());
        let p = position('8', 0.6, &[('B', 0.3), ('V', 0.2)], normalise_code, |c| {
            c.is_ascii_digit() || (c.is_ascii_uppercase() && !"IOSVZ".contains(c))
        });
        assert_eq!(p, vec![('8', 0.6), ('B', 0.3)]);
        let mut positions: Vec<Position> = truth.chars().map(|c| vec![(c, 0.95)]).collect();
        positions[9] = vec![('N', 0.5), ('W', 0.45)];
        assert_eq!(
            choose(&positions, |c| CreditCode::parse(c).is_ok()),
            Some((truth.into(), vec![0.45]))
        );
    }
}
