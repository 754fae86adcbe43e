//! Identifiers as parse-don't-validate types: the resident identity number (GB 11643) and the
//! unified social credit code (GB 32100). A value of these types has passed every check.

use chrono::{Datelike, NaiveDate};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    pub fn label(self) -> &'static str {
        match self {
            Sex::Male => "男",
            Sex::Female => "女",
        }
    }
}

/// Province-level codes (GB/T 2260), plus 71 Taiwan and 81/82/83 for the residence permits
/// of Hong Kong, Macao and Taiwan residents.
const PROVINCES: &[&str] = &[
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
    "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71",
    "81", "82", "83",
];

/// A resident identity number. Debug and Display show only the masked form.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdNumber(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error("长度应为18位，实为{0}位")]
    Length(usize),
    #[error("只能由17位数字加一位数字或 X 组成")]
    Alphabet,
    #[error("省级行政区划代码 {0} 不存在")]
    Province(String),
    #[error("出生日期无效")]
    BirthDate,
    #[error("出生日期晚于今天")]
    FutureBirthDate,
    #[error("校验码错误：应为 {expected}，实为 {found}")]
    CheckCharacter { expected: char, found: char },
}

/// ISO 7064 MOD 11-2 over 17 digits: weights 2^(17-i) mod 11, check = (12 - sum mod 11) mod 11.
pub fn id_check_character(first17: &str) -> Option<char> {
    if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let sum: u32 = first17
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * ((1u32 << (17 - i)) % 11))
        .sum();
    let c = (12 - sum % 11) % 11;
    Some(if c == 10 {
        'X'
    } else {
        char::from(b'0' + c as u8)
    })
}

impl IdNumber {
    pub fn parse(s: &str) -> Result<IdNumber, IdNumberError> {
        Self::parse_at(s, chrono::Local::now().date_naive())
    }

    pub fn parse_at(s: &str, today: NaiveDate) -> Result<IdNumber, IdNumberError> {
        let s = s.trim().to_uppercase();
        let n = s.chars().count();
        if n != 18 {
            return Err(IdNumberError::Length(n));
        }
        let b = s.as_bytes();
        if !b[..17].iter().all(u8::is_ascii_digit) || !(b[17].is_ascii_digit() || b[17] == b'X') {
            return Err(IdNumberError::Alphabet);
        }
        if !PROVINCES.contains(&&s[..2]) {
            return Err(IdNumberError::Province(s[..2].to_string()));
        }
        let birth =
            NaiveDate::parse_from_str(&s[6..14], "%Y%m%d").map_err(|_| IdNumberError::BirthDate)?;
        if birth.year() < 1800 {
            return Err(IdNumberError::BirthDate);
        }
        if birth > today {
            return Err(IdNumberError::FutureBirthDate);
        }
        let expected = id_check_character(&s[..17]).expect("17 digits checked above");
        let found = char::from(b[17]);
        if expected != found {
            return Err(IdNumberError::CheckCharacter { expected, found });
        }
        Ok(IdNumber(s))
    }

    pub fn region_code(&self) -> &str {
        &self.0[..6]
    }

    pub fn birth_date(&self) -> NaiveDate {
        NaiveDate::parse_from_str(&self.0[6..14], "%Y%m%d").expect("checked at parse")
    }

    pub fn sex(&self) -> Sex {
        if (self.0.as_bytes()[16] - b'0') % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// `1101**********123X`: the first four and last four characters.
    pub fn masked(&self) -> String {
        format!("{}**********{}", &self.0[..4], &self.0[14..])
    }

    /// The full number; named so that every use is visible in review.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

impl fmt::Display for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl FromStr for IdNumber {
    type Err = IdNumberError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IdNumber::parse(s)
    }
}

/// The 31 characters of GB 32100, in value order (no I, O, Z, S, V).
const USCC_ALPHABET: &str = "0123456789ABCDEFGHJKLMNPQRTUWXY";
/// 3^i mod 31 for i = 0..16.
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
/// GB 11714 organisation code weights.
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// A unified social credit code (public information, so shown in full).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CreditCode(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditCodeError {
    #[error("长度应为18位，实为{0}位")]
    Length(usize),
    #[error("含有不允许的字符“{0}”（不使用 I、O、Z、S、V）")]
    Alphabet(char),
    #[error("组织机构代码校验码错误：应为 {expected}，实为 {found}")]
    OrganisationCheck { expected: char, found: char },
    #[error("校验码错误：应为 {expected}，实为 {found}")]
    CheckCharacter { expected: char, found: char },
}

fn uscc_value(c: char) -> Option<u32> {
    USCC_ALPHABET.find(c).map(|i| i as u32)
}

/// GB 11714: digits are their value, letters A–Z are 10–35; check = 11 - sum mod 11,
/// 10 → X, 11 → 0.
fn org_check(body: &str) -> Option<char> {
    let mut sum = 0;
    for (c, w) in body.chars().zip(ORG_WEIGHTS) {
        let v = match c {
            '0'..='9' => c as u32 - '0' as u32,
            'A'..='Z' => c as u32 - 'A' as u32 + 10,
            _ => return None,
        };
        sum += v * w;
    }
    Some(match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        d => char::from(b'0' + d as u8),
    })
}

impl CreditCode {
    pub fn parse(s: &str) -> Result<CreditCode, CreditCodeError> {
        let s = s.trim().to_uppercase();
        let n = s.chars().count();
        if n != 18 {
            return Err(CreditCodeError::Length(n));
        }
        if let Some(bad) = s.chars().find(|c| uscc_value(*c).is_none()) {
            return Err(CreditCodeError::Alphabet(bad));
        }
        let org = &s[8..17];
        let expected = org_check(&org[..8]).ok_or(CreditCodeError::Alphabet('?'))?;
        let found = org.chars().nth(8).expect("length checked");
        if expected != found {
            return Err(CreditCodeError::OrganisationCheck { expected, found });
        }
        let expected = Self::check_character(&s[..17]).expect("alphabet checked");
        let found = s.chars().nth(17).expect("length checked");
        if expected != found {
            return Err(CreditCodeError::CheckCharacter { expected, found });
        }
        Ok(CreditCode(s))
    }

    /// The final check character for a 17-character prefix (GB 32100).
    pub fn check_character(first17: &str) -> Option<char> {
        if first17.chars().count() != 17 {
            return None;
        }
        let mut sum = 0;
        for (c, w) in first17.chars().zip(USCC_WEIGHTS) {
            sum += uscc_value(c)? * w;
        }
        USCC_ALPHABET.chars().nth(((31 - sum % 31) % 31) as usize)
    }

    pub fn registering_authority(&self) -> char {
        self.0.as_bytes()[0] as char
    }

    pub fn organisation_type(&self) -> char {
        self.0.as_bytes()[1] as char
    }

    pub fn region_code(&self) -> &str {
        &self.0[2..8]
    }

    /// Authority 9 (market regulation) with type 2: 个体工商户.
    pub fn is_individual_business(&self) -> bool {
        self.registering_authority() == '9' && self.organisation_type() == '2'
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CreditCode {
    type Err = CreditCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CreditCode::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 28).unwrap()
    }

    /// A small deterministic generator (no randomness crate needed for tests).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
    }

    fn gen_id(r: &mut Lcg) -> String {
        let p = PROVINCES[r.next(PROVINCES.len() as u64) as usize];
        let start = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap();
        let days = (today() - start).num_days() as u64;
        let birth = start + chrono::Days::new(r.next(days + 1));
        let body = format!(
            "{p}{:04}{}{:03}",
            r.next(10_000),
            birth.format("%Y%m%d"),
            r.next(1000)
        );
        format!("{body}{}", id_check_character(&body).unwrap())
    }

    fn gen_uscc(r: &mut Lcg) -> String {
        let a: Vec<char> = USCC_ALPHABET.chars().collect();
        let digits: Vec<char> = ('0'..='9')
            .chain('A'..='Z')
            .filter(|c| uscc_value(*c).is_some())
            .collect();
        let mut s = String::new();
        s.push(a[r.next(31) as usize]);
        s.push(a[r.next(31) as usize]);
        s.push_str(&format!("{:06}", r.next(1_000_000)));
        let body: String = (0..8)
            .map(|_| digits[r.next(digits.len() as u64) as usize])
            .collect();
        s.push_str(&body);
        // Only bodies whose GB 11714 check is inside the GB 32100 alphabet make valid codes.
        s.push(org_check(&body).unwrap());
        let check = CreditCode::check_character(&s).unwrap();
        s.push(check);
        s
    }

    // GB 11643-1999 appendix example and the widely published 15/18 sample numbers.
    #[test]
    fn known_identity_numbers_parse() {
        let id = IdNumber::parse_at("11010519491231002x", today()).unwrap();
        assert_eq!(
            id.birth_date(),
            NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
        );
        assert_eq!(id.sex(), Sex::Female);
        assert_eq!(id.region_code(), "110105");
        assert!(IdNumber::parse_at("440524188001010014", today()).is_ok());
        for prefix in [
            "810000199901011234",
            "820000199901011234",
            "830000199901011234",
        ] {
            let body = &prefix[..17];
            let full = format!("{body}{}", id_check_character(body).unwrap());
            assert!(
                IdNumber::parse_at(&full, today()).is_ok(),
                "{full}: HK/Macao/Taiwan permits are real"
            );
        }
    }

    // GB 11643-1999: length, alphabet, region, date, ISO 7064 MOD 11-2 check character.
    #[test]
    fn thousands_of_generated_numbers_parse_and_every_single_error_is_caught() {
        let mut r = Lcg(7);
        for _ in 0..3000 {
            let s = gen_id(&mut r);
            let id = IdNumber::parse_at(&s, today()).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(id.birth_date().format("%Y%m%d").to_string(), s[6..14]);
            assert_eq!(id.sex() == Sex::Male, (s.as_bytes()[16] - b'0') % 2 == 1);
            // Every single-digit substitution is detected by MOD 11-2.
            let pos = r.next(17) as usize;
            let mut b = s.clone().into_bytes();
            b[pos] = b'0' + ((b[pos] - b'0' + 1 + r.next(9) as u8) % 10);
            let bad = String::from_utf8(b).unwrap();
            assert!(IdNumber::parse_at(&bad, today()).is_err(), "{bad} accepted");
            // Every adjacent transposition of different digits is detected.
            let i = r.next(16) as usize;
            let mut b = s.clone().into_bytes();
            if b[i] != b[i + 1] && b[i + 1] != b'X' {
                b.swap(i, i + 1);
                let bad = String::from_utf8(b).unwrap();
                assert!(IdNumber::parse_at(&bad, today()).is_err(), "{bad} accepted");
            }
        }
    }

    #[test]
    fn malformed_identity_numbers_say_why() {
        let t = today();
        assert_eq!(
            IdNumber::parse_at("1101051949123100", t),
            Err(IdNumberError::Length(16))
        );
        assert_eq!(
            IdNumber::parse_at("11010519491231A02X", t),
            Err(IdNumberError::Alphabet)
        );
        let body = "99010519491231002";
        let s = format!("{body}{}", id_check_character(body).unwrap());
        assert_eq!(
            IdNumber::parse_at(&s, t),
            Err(IdNumberError::Province("99".into()))
        );
        let body = "11010519490230002";
        let s = format!("{body}{}", id_check_character(body).unwrap());
        assert_eq!(IdNumber::parse_at(&s, t), Err(IdNumberError::BirthDate));
        let body = "11010520991231002";
        let s = format!("{body}{}", id_check_character(body).unwrap());
        assert_eq!(
            IdNumber::parse_at(&s, t),
            Err(IdNumberError::FutureBirthDate)
        );
        let e = IdNumber::parse_at("110105194912310021", t).unwrap_err();
        assert_eq!(
            e,
            IdNumberError::CheckCharacter {
                expected: 'X',
                found: '1'
            }
        );
        assert!(!e.to_string().contains("110105194912310021"));
    }

    // DOMAIN.md: masked display ID 1101**********123X; no full number in logs or panics.
    #[test]
    fn identity_numbers_never_print_in_full() {
        let id = IdNumber::parse_at("11010519491231002X", today()).unwrap();
        assert_eq!(id.masked(), "1101**********002X");
        assert_eq!(format!("{id:?}"), "IdNumber(1101**********002X)");
        assert_eq!(id.to_string(), "1101**********002X");
        assert_eq!(id.expose(), "11010519491231002X");
    }

    // GB 32100-2015 final check and GB 11714-1997 organisation-code check, on real codes.
    #[test]
    fn real_credit_codes_parse() {
        for code in [
            "914403001922038216",
            "91330100799655058B",
            "91440300708461136T",
        ] {
            let c = CreditCode::parse(code).unwrap_or_else(|e| panic!("{code}: {e}"));
            assert_eq!(c.registering_authority(), '9');
            assert!(!c.is_individual_business());
        }
        assert_eq!(
            CreditCode::parse("91440300708461136t")
                .unwrap()
                .region_code(),
            "440300"
        );
    }

    #[test]
    fn thousands_of_generated_codes_parse_and_single_errors_are_caught() {
        let mut r = Lcg(11);
        let alphabet: Vec<char> = USCC_ALPHABET.chars().collect();
        let mut made = 0;
        while made < 3000 {
            let s = gen_uscc(&mut r);
            if uscc_value(s.chars().nth(16).unwrap()).is_none() {
                continue; // organisation check X is fine; anything else outside the alphabet is not
            }
            made += 1;
            CreditCode::parse(&s).unwrap_or_else(|e| panic!("{s}: {e}"));
            // Any single substitution within the alphabet is caught (MOD 31 over 17 places).
            let pos = r.next(18) as usize;
            let mut chars: Vec<char> = s.chars().collect();
            let old = chars[pos];
            let mut new = alphabet[r.next(31) as usize];
            if new == old {
                new = alphabet[(uscc_value(old).unwrap() as usize + 1) % 31];
            }
            chars[pos] = new;
            let bad: String = chars.iter().collect();
            assert!(CreditCode::parse(&bad).is_err(), "{bad} accepted");
            let i = r.next(17) as usize;
            let mut chars: Vec<char> = s.chars().collect();
            if chars[i] != chars[i + 1] {
                chars.swap(i, i + 1);
                let bad: String = chars.iter().collect();
                assert!(CreditCode::parse(&bad).is_err(), "{bad} accepted");
            }
        }
    }

    #[test]
    fn malformed_credit_codes_say_why() {
        assert_eq!(
            CreditCode::parse("9144030019220382"),
            Err(CreditCodeError::Length(16))
        );
        assert_eq!(
            CreditCode::parse("9144030019220382IO"),
            Err(CreditCodeError::Alphabet('I'))
        );
        assert!(matches!(
            CreditCode::parse("914403001922038316"),
            Err(CreditCodeError::OrganisationCheck { .. })
        ));
        assert!(matches!(
            CreditCode::parse("914403001922038217"),
            Err(CreditCodeError::CheckCharacter { .. })
        ));
        // An individual business (个体工商户): authority 9, type 2.
        let body = "MA5T4K8L";
        let mut code = format!("92440300{body}{}", org_check(body).unwrap());
        code.push(CreditCode::check_character(&code).unwrap());
        assert!(CreditCode::parse(&code).unwrap().is_individual_business());
    }
}
