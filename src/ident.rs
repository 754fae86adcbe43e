//! Identifiers as parse-don't-validate newtypes: the resident identity number
//! (居民身份证号码, GB 11643-1999) and the unified social credit code (统一社会信用代码,
//! GB 32100-2015, whose organisation code carries its own GB 11714-1997 check character).
//!
//! A value of [`IdNumber`] or [`CreditCode`] can only be obtained through a checked parse, so
//! holding one means every rule below has passed. An identity number is sensitive personal
//! information: its `Debug` and `Display` show only the masked form, and the full value is
//! reachable only through [`IdNumber::expose`], so each use is visible at the call site.

use chrono::NaiveDate;
use std::fmt;
use std::str::FromStr;

// ---------------------------------------------------------------------------------------------
// Resident identity number (GB 11643-1999)
// ---------------------------------------------------------------------------------------------

/// Sex as encoded by the parity of the sequence code (digit 17): odd = male, even = female.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    /// The label printed on the identity card: "男" or "女".
    pub fn label(self) -> &'static str {
        match self {
            Sex::Male => "男",
            Sex::Female => "女",
        }
    }
}

/// Province-level codes (first two digits, GB/T 2260), plus 71 (Taiwan) and 81, 82, 83: the
/// residence permits for Hong Kong, Macao and Taiwan residents, which are real numbers.
const PROVINCES: [&str; 35] = [
    "11", "12", "13", "14", "15", // 北京 天津 河北 山西 内蒙古
    "21", "22", "23", // 辽宁 吉林 黑龙江
    "31", "32", "33", "34", "35", "36",
    "37", // 上海 江苏 浙江 安徽 福建 江西 山东
    "41", "42", "43", "44", "45", "46", // 河南 湖北 湖南 广东 广西 海南
    "50", "51", "52", "53", "54", // 重庆 四川 贵州 云南 西藏
    "61", "62", "63", "64", "65", // 陕西 甘肃 青海 宁夏 新疆
    "71", // 台湾
    "81", "82", "83", // 港澳台居民居住证
];

/// Whether two digits are a province-level code of GB/T 2260 (or 71, 81–83, see above): the
/// first two digits of an identity number's region and of a credit code's (GB 32100 digits 3–8).
pub fn is_province_code(two: &str) -> bool {
    PROVINCES.contains(&two)
}

/// Birth years before this are rejected as implausible (a plausibility floor chosen by the
/// application, not a rule of GB 11643 itself).
const EARLIEST_BIRTH_YEAR: i32 = 1900;

/// ISO 7064 MOD 11-2 weights: 2^(17-i) mod 11 for i = 0..16.
const ID_WEIGHTS: [u32; 17] = {
    let mut w = [0u32; 17];
    let mut i = 0;
    while i < 17 {
        w[i] = (1u32 << (17 - i)) % 11;
        i += 1;
    }
    w
};

/// A resident identity number that has passed every GB 11643 check. 18 ASCII characters, the
/// last one a digit or an uppercase `X`.
///
/// `Debug` and `Display` print only the masked form (`1101**********123X`); use
/// [`IdNumber::expose`] where the full value is really needed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdNumber(String);

/// Why a string is not a resident identity number. No variant carries more than the two-digit
/// province code or a single character, so an error can never leak a full number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdNumberError {
    #[error("长度应为18位，实为{0}位")]
    Length(usize),
    #[error("应为17位数字加1位数字或 X")]
    Alphabet,
    #[error("省级行政区划代码 {0} 不存在")]
    Province(String),
    #[error("出生日期无效")]
    BirthDate,
    #[error("出生日期晚于当前日期")]
    FutureBirthDate,
    #[error("校验码错误：应为 {expected}，实为 {found}")]
    CheckCharacter { expected: char, found: char },
}

/// MOD 11-2 check character over exactly 17 ASCII digits (caller guarantees the input).
fn mod11_2(digits: &[u8]) -> char {
    let sum: u32 = digits
        .iter()
        .zip(ID_WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    match (12 - sum % 11) % 11 {
        10 => 'X',
        c => char::from(b'0' + c as u8),
    }
}

/// The GB 11643 check character (ISO 7064 MOD 11-2) for the first 17 digits of an identity
/// number: weights 2^(17-i) mod 11, check = (12 - sum mod 11) mod 11, 10 written `X`.
/// `None` unless `first17` is exactly 17 ASCII digits.
pub fn id_check_character(first17: &str) -> Option<char> {
    let b = first17.as_bytes();
    (b.len() == 17 && b.iter().all(u8::is_ascii_digit)).then(|| mod11_2(b))
}

/// Birth date from the 8 ASCII digits at 6..14; `None` if not a real calendar date or before
/// [`EARLIEST_BIRTH_YEAR`].
fn birth_date_of(number: &str) -> Option<NaiveDate> {
    let year: i32 = number.get(6..10)?.parse().ok()?;
    let month: u32 = number.get(10..12)?.parse().ok()?;
    let day: u32 = number.get(12..14)?.parse().ok()?;
    if year < EARLIEST_BIRTH_YEAR {
        return None;
    }
    NaiveDate::from_ymd_opt(year, month, day)
}

impl IdNumber {
    /// Parses against today's local date (see [`IdNumber::parse_at`]).
    pub fn parse(s: &str) -> Result<IdNumber, IdNumberError> {
        Self::parse_at(s, chrono::Local::now().date_naive())
    }

    /// Trims surrounding whitespace, accepts a lowercase `x`, then checks in this order:
    /// length 18, alphabet (17 digits + digit or X), province code, birth date a real date not
    /// before 1900-01-01, birth date not after `today`, MOD 11-2 check character.
    pub fn parse_at(s: &str, today: NaiveDate) -> Result<IdNumber, IdNumberError> {
        let s = s.trim();
        let n = s.chars().count();
        if n != 18 {
            return Err(IdNumberError::Length(n));
        }
        // 18 chars in 18 bytes means all ASCII, so byte indexing below is on char boundaries.
        let b = s.as_bytes();
        if b.len() != 18
            || !b[..17].iter().all(u8::is_ascii_digit)
            || !matches!(b[17], b'0'..=b'9' | b'X' | b'x')
        {
            return Err(IdNumberError::Alphabet);
        }
        let value = s.to_ascii_uppercase();
        let province = &value[..2];
        if !is_province_code(province) {
            return Err(IdNumberError::Province(province.to_owned()));
        }
        let birth = birth_date_of(&value).ok_or(IdNumberError::BirthDate)?;
        if birth > today {
            return Err(IdNumberError::FutureBirthDate);
        }
        let expected = mod11_2(&value.as_bytes()[..17]);
        let found = char::from(value.as_bytes()[17]);
        if expected != found {
            return Err(IdNumberError::CheckCharacter { expected, found });
        }
        Ok(IdNumber(value))
    }

    /// The 6-digit administrative region code (digits 1–6).
    pub fn region_code(&self) -> &str {
        &self.0[..6]
    }

    /// The birth date (digits 7–14).
    pub fn birth_date(&self) -> NaiveDate {
        birth_date_of(&self.0).expect("birth date checked at parse")
    }

    /// Sex from the parity of digit 17: odd = male, even = female.
    pub fn sex(&self) -> Sex {
        if (self.0.as_bytes()[16] - b'0') % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// Masked display form: first 4 characters, 10 stars, last 4 (`1101**********123X`).
    pub fn masked(&self) -> String {
        format!("{}**********{}", &self.0[..4], &self.0[14..])
    }

    /// The full number. Named so that every place that needs it is visible in review.
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

    /// Same as [`IdNumber::parse`] (checked against today's local date).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IdNumber::parse(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Unified social credit code (GB 32100-2015) with its organisation code (GB 11714-1997)
// ---------------------------------------------------------------------------------------------

/// The 31 characters of GB 32100 in value order (no I, O, Z, S, V).
const GB32100_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// GB 32100 weights: 3^i mod 31 for i = 0..16.
const GB32100_WEIGHTS: [u32; 17] = {
    let mut w = [0u32; 17];
    let mut p = 1u32;
    let mut i = 0;
    while i < 17 {
        w[i] = p;
        p = p * 3 % 31;
        i += 1;
    }
    w
};

/// GB 11714 organisation-code weights for the 8 body characters.
const GB11714_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// A unified social credit code that has passed the GB 32100 and GB 11714 checks: 18
/// characters from the GB 32100 alphabet, uppercase. Public information, so shown in full.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CreditCode(String);

/// Why a string is not a unified social credit code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditCodeError {
    #[error("长度应为18位，实为{0}位")]
    Length(usize),
    #[error("含有不允许的字符“{0}”（只能是数字和除 I、O、Z、S、V 以外的大写字母）")]
    Alphabet(char),
    #[error("组织机构代码校验码错误：应为 {expected}，实为 {found}")]
    OrganisationCheck { expected: char, found: char },
    #[error("校验码错误：应为 {expected}，实为 {found}")]
    CheckCharacter { expected: char, found: char },
}

/// GB 32100 value of each ASCII byte (its index in the alphabet), `u8::MAX` if outside it.
const GB32100_VALUES: [u8; 128] = {
    let mut t = [u8::MAX; 128];
    let mut i = 0;
    while i < GB32100_ALPHABET.len() {
        t[GB32100_ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// The value of a character in the GB 32100 alphabet (its index), or `None` if outside it.
fn gb32100_value(c: char) -> Option<u32> {
    match GB32100_VALUES.get(c as usize) {
        Some(&v) if v != u8::MAX => Some(u32::from(v)),
        _ => None,
    }
}

/// GB 11714 check character over the 8-character organisation-code body: digits are their
/// value, letters A–Z are 10–35 (not their GB 32100 index); check = 11 - (sum mod 11), with
/// 10 written `X` and 11 written `0`. `None` if a character is not a digit or A–Z.
fn gb11714_check(body: &str) -> Option<char> {
    if body.chars().count() != 8 {
        return None;
    }
    let mut sum = 0;
    for (c, w) in body.chars().zip(GB11714_WEIGHTS) {
        if c.is_ascii_lowercase() {
            return None;
        }
        sum += c.to_digit(36)? * w;
    }
    Some(match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        d => char::from(b'0' + d as u8),
    })
}

impl CreditCode {
    /// Trims surrounding whitespace and uppercases ASCII letters, then checks in this order:
    /// length 18, alphabet, GB 11714 organisation-code check character (position 17), GB 32100
    /// final check character (position 18).
    pub fn parse(s: &str) -> Result<CreditCode, CreditCodeError> {
        let s = s.trim().to_ascii_uppercase();
        let n = s.chars().count();
        if n != 18 {
            return Err(CreditCodeError::Length(n));
        }
        if let Some(bad) = s.chars().find(|&c| gb32100_value(c).is_none()) {
            return Err(CreditCodeError::Alphabet(bad));
        }
        // All 18 characters are ASCII from here on.
        let b = s.as_bytes();
        let expected = gb11714_check(&s[8..16]).expect("alphabet checked");
        let found = char::from(b[16]);
        if expected != found {
            return Err(CreditCodeError::OrganisationCheck { expected, found });
        }
        let expected = Self::check_characters(&s[..17]).expect("alphabet checked");
        let found = char::from(b[17]);
        if expected != found {
            return Err(CreditCodeError::CheckCharacter { expected, found });
        }
        Ok(CreditCode(s))
    }

    /// Registering-authority code (character 1), e.g. `9` market regulation, `1` institution,
    /// `5` civil affairs, `Y` other.
    pub fn registering_authority(&self) -> char {
        char::from(self.0.as_bytes()[0])
    }

    /// Organisation-type code (character 2); for authority 9: `1` enterprise, `2` individual
    /// business, `3` farmers' cooperative.
    pub fn organisation_type(&self) -> char {
        char::from(self.0.as_bytes()[1])
    }

    /// The 6-character region code of the registering authority (characters 3–8).
    pub fn region_code(&self) -> &str {
        &self.0[2..8]
    }

    /// Authority 9 (market regulation) with type 2: an individual business (个体工商户).
    pub fn is_individual_business(&self) -> bool {
        self.registering_authority() == '9' && self.organisation_type() == '2'
    }

    /// The full code; a credit code is public information.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The GB 32100 final check character for a 17-character prefix: weights 3^i mod 31,
    /// check = (31 - sum mod 31) mod 31 as an alphabet character. `None` unless the prefix is
    /// exactly 17 characters, all in the (uppercase) GB 32100 alphabet.
    pub fn check_characters(first17: &str) -> Option<char> {
        if first17.chars().count() != 17 {
            return None;
        }
        let mut sum = 0;
        for (c, w) in first17.chars().zip(GB32100_WEIGHTS) {
            sum += gb32100_value(c)? * w;
        }
        Some(char::from(
            GB32100_ALPHABET[((31 - sum % 31) % 31) as usize],
        ))
    }
}

impl fmt::Display for CreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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
    use chrono::Days;

    /// A fixed "today" so the tests do not depend on the clock.
    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 6, 15).unwrap()
    }

    /// A small deterministic generator (64-bit LCG, Knuth's MMIX constants; high bits used).
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 33) % n as u64) as usize
        }

        fn digits(&mut self, len: usize) -> String {
            (0..len)
                .map(|_| char::from(b'0' + self.below(10) as u8))
                .collect()
        }

        fn gb32100_char(&mut self) -> char {
            char::from(GB32100_ALPHABET[self.below(31)])
        }
    }

    /// Appends the MOD 11-2 check character to a 17-digit body.
    fn with_id_check(body: &str) -> String {
        format!("{body}{}", id_check_character(body).unwrap())
    }

    /// Whether MOD 11-2 alone accepts an 18-character string (all other rules ignored).
    fn mod11_2_accepts(s: &str) -> bool {
        s.len() == 18 && id_check_character(&s[..17]) == s[17..].chars().next()
    }

    struct GeneratedId {
        number: String,
        region: String,
        birth: NaiveDate,
        sex: Sex,
    }

    /// A valid identity number: random province from the list, random rest of the region,
    /// birth date in [1900-01-01, today], random sequence, computed check character.
    fn gen_id(r: &mut Lcg) -> GeneratedId {
        let province = PROVINCES[r.below(PROVINCES.len())];
        let region = format!("{province}{}", r.digits(4));
        let start = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap();
        let span = (today() - start).num_days() as usize + 1;
        let birth = start + Days::new(r.below(span) as u64);
        let sequence = r.digits(3);
        let sex = if (sequence.as_bytes()[2] - b'0') % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        };
        let number = with_id_check(&format!("{region}{}{sequence}", birth.format("%Y%m%d")));
        GeneratedId {
            number,
            region,
            birth,
            sex,
        }
    }

    /// Replaces the bytes of an ASCII string starting at `at` with `with`.
    fn splice(s: &str, at: usize, with: &str) -> String {
        format!("{}{with}{}", &s[..at], &s[at + with.len()..])
    }

    /// A valid credit code: random authority and type from the alphabet, 6-digit region, an
    /// 8-character organisation body from the alphabet with its GB 11714 check, final check.
    fn gen_credit_code(r: &mut Lcg) -> String {
        let mut s = String::new();
        s.push(r.gb32100_char());
        s.push(r.gb32100_char());
        s.push_str(&r.digits(6));
        let body: String = (0..8).map(|_| r.gb32100_char()).collect();
        s.push_str(&body);
        s.push(gb11714_check(&body).unwrap());
        s.push(CreditCode::check_characters(&s).unwrap());
        s
    }

    // GB 11643-1999 (ISO 7064 MOD 11-2): weights 2^(17-i) mod 11 for i = 0..16.
    // GB 32100-2015: weights 3^i mod 31 for i = 0..16, over a 31-character alphabet.
    #[test]
    fn weight_tables_match_the_standards() {
        assert_eq!(
            ID_WEIGHTS,
            [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
        );
        assert_eq!(
            GB32100_WEIGHTS,
            [
                1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28
            ]
        );
        assert_eq!(GB32100_ALPHABET.len(), 31);
        for c in ['I', 'O', 'Z', 'S', 'V'] {
            assert_eq!(
                gb32100_value(c),
                None,
                "{c} is not in the GB 32100 alphabet"
            );
        }
    }

    #[test]
    fn sex_labels() {
        assert_eq!(Sex::Male.label(), "男");
        assert_eq!(Sex::Female.label(), "女");
    }

    // GB 11643-1999: the standard's worked example 11010519491231002X (Beijing Chaoyang,
    // born 1949-12-31, sequence 002 = female, check X), in upper/lower case and padded.
    #[test]
    fn gb11643_standard_example_parses() {
        for input in [
            "11010519491231002X",
            "11010519491231002x",
            "  11010519491231002X\n",
        ] {
            let id = IdNumber::parse_at(input, today()).unwrap();
            assert_eq!(id.expose(), "11010519491231002X");
            assert_eq!(id.region_code(), "110105");
            assert_eq!(
                id.birth_date(),
                NaiveDate::from_ymd_opt(1949, 12, 31).unwrap()
            );
            assert_eq!(id.sex(), Sex::Female);
        }
        assert_eq!(id_check_character("11010519491231002"), Some('X'));
        // FromStr and parse() check against the real local date.
        let id: IdNumber = "11010519491231002X".parse().unwrap();
        assert_eq!(id, IdNumber::parse("11010519491231002X").unwrap());
    }

    // GB 11643-1999: the standard's second example 440524188001010014 has a correct MOD 11-2
    // check character, but its birth date 1880-01-01 is before the 1900-01-01 plausibility
    // floor this module applies, so it is rejected as a birth-date error.
    #[test]
    fn gb11643_example_born_1880_has_correct_check_but_is_below_the_1900_floor() {
        assert_eq!(id_check_character("44052418800101001"), Some('4'));
        assert!(mod11_2_accepts("440524188001010014"));
        assert_eq!(
            IdNumber::parse_at("440524188001010014", today()),
            Err(IdNumberError::BirthDate)
        );
        // 1900-01-01 itself is accepted, 1899-12-31 is not.
        let first = with_id_check("44052419000101001");
        assert!(IdNumber::parse_at(&first, today()).is_ok());
        let before = with_id_check("44052418991231001");
        assert_eq!(
            IdNumber::parse_at(&before, today()),
            Err(IdNumberError::BirthDate)
        );
    }

    // GB 11643-1999 with region codes 810000 / 820000 / 830000: residence permits for Hong
    // Kong, Macao and Taiwan residents (港澳台居民居住证, 2018) are real identity numbers.
    #[test]
    fn hong_kong_macao_taiwan_residence_permits_parse() {
        let cases = [
            ("81000019880321003", Sex::Male),
            ("82000019950704008", Sex::Female),
            ("83000020010115012", Sex::Female),
            ("81000019700101001", Sex::Male),
        ];
        for (body, sex) in cases {
            let number = with_id_check(body);
            let id = IdNumber::parse_at(&number, today()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(id.region_code(), &body[..6]);
            assert_eq!(id.sex(), sex);
            assert_eq!(id.expose(), number);
        }
        // The generated check characters, written out so a regression in the algorithm shows.
        assert_eq!(id_check_character("81000019880321003"), Some('4'));
        assert_eq!(id_check_character("82000019950704008"), Some('1'));
        assert_eq!(id_check_character("83000020010115012"), Some('2'));
        assert_eq!(id_check_character("81000019700101001"), Some('X'));
    }

    // GB 11643-1999: length 18, alphabet, province (GB/T 2260), real birth date, not in the
    // future, MOD 11-2 check character; checked in that order.
    #[test]
    fn malformed_identity_numbers_say_why() {
        let t = today();
        let parse = |s: &str| IdNumber::parse_at(s, t);
        assert_eq!(parse(""), Err(IdNumberError::Length(0)));
        assert_eq!(parse("1101051949123100"), Err(IdNumberError::Length(16)));
        assert_eq!(parse("11010519491231002X0"), Err(IdNumberError::Length(19)));
        assert_eq!(parse("11010519491231A02X"), Err(IdNumberError::Alphabet));
        assert_eq!(parse("X10105194912310021"), Err(IdNumberError::Alphabet));
        assert_eq!(parse("11010519491231002Y"), Err(IdNumberError::Alphabet));
        // Non-ASCII: 18 characters but more than 18 bytes, and full-width digits.
        assert_eq!(parse("110105194912310中2X"), Err(IdNumberError::Alphabet));
        assert_eq!(
            parse("１１０１０５１９４９１２３１００２Ｘ"),
            Err(IdNumberError::Alphabet)
        );
        assert_eq!(
            parse(&with_id_check("99010519491231002")),
            Err(IdNumberError::Province("99".into()))
        );
        assert_eq!(
            parse(&with_id_check("00010519491231002")),
            Err(IdNumberError::Province("00".into()))
        );
        for bad_date in [
            "19490230", "19490229", "19491301", "19490001", "19491200", "19490431",
        ] {
            let s = with_id_check(&format!("110105{bad_date}002"));
            assert_eq!(parse(&s), Err(IdNumberError::BirthDate), "{bad_date}");
        }
        // 2000 was a leap year (divisible by 400), 1900 was not.
        assert!(parse(&with_id_check("11010520000229002")).is_ok());
        assert_eq!(
            parse(&with_id_check("11010519000229002")),
            Err(IdNumberError::BirthDate)
        );
        // Born today is fine; tomorrow is in the future.
        let born = |d: NaiveDate| with_id_check(&format!("110105{}002", d.format("%Y%m%d")));
        assert!(parse(&born(t)).is_ok());
        assert_eq!(
            parse(&born(t + Days::new(1))),
            Err(IdNumberError::FutureBirthDate)
        );
        assert_eq!(
            parse("110105194912310021"),
            Err(IdNumberError::CheckCharacter {
                expected: 'X',
                found: '1'
            })
        );
        // Order: province is checked before the date, the date before the check character.
        assert_eq!(
            parse("990105194902300020"),
            Err(IdNumberError::Province("99".into()))
        );
        assert_eq!(parse("110105194902300020"), Err(IdNumberError::BirthDate));
        // Messages are short Chinese sentences.
        assert_eq!(
            IdNumberError::CheckCharacter {
                expected: 'X',
                found: '3'
            }
            .to_string(),
            "校验码错误：应为 X，实为 3"
        );
        assert_eq!(IdNumberError::BirthDate.to_string(), "出生日期无效");
        assert_eq!(
            IdNumberError::Length(17).to_string(),
            "长度应为18位，实为17位"
        );
        assert_eq!(
            IdNumberError::Province("99".into()).to_string(),
            "省级行政区划代码 99 不存在"
        );
    }

    // GB 11643-1999 (ISO 7064 MOD 11-2): 5000 generated numbers parse and agree with their
    // parts; every single-digit substitution and every adjacent transposition of differing
    // characters is caught by MOD 11-2 itself; structural corruptions give the right error.
    #[test]
    fn generated_identity_numbers_parse_and_every_single_error_is_caught() {
        let t = today();
        let mut r = Lcg(0x1164_3199);
        let mut substitutions = 0;
        let mut transpositions = 0;
        for _ in 0..5000 {
            let g = gen_id(&mut r);
            let s = g.number.as_str();
            let id = IdNumber::parse_at(s, t).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(id.expose(), s);
            assert_eq!(id.region_code(), g.region);
            assert_eq!(id.birth_date(), g.birth);
            assert_eq!(id.sex(), g.sex);
            assert!(mod11_2_accepts(s));

            // Every single-character substitution, at all 18 positions.
            for pos in 0..18 {
                let alternatives: &[u8] = if pos == 17 {
                    b"0123456789X"
                } else {
                    b"0123456789"
                };
                for &c in alternatives {
                    if c == s.as_bytes()[pos] {
                        continue;
                    }
                    let mut buf = *<&[u8; 18]>::try_from(s.as_bytes()).unwrap();
                    buf[pos] = c;
                    let bad = std::str::from_utf8(&buf).unwrap();
                    assert!(!mod11_2_accepts(bad), "MOD 11-2 missed a substitution");
                    let e = IdNumber::parse_at(bad, t).unwrap_err();
                    assert!(!e.to_string().contains(bad) && !format!("{e:?}").contains(bad));
                    substitutions += 1;
                }
            }

            // Every adjacent transposition of differing characters, including with the check.
            for i in 0..17 {
                let (a, b) = (s.as_bytes()[i], s.as_bytes()[i + 1]);
                if a == b {
                    continue;
                }
                let mut bytes = s.as_bytes().to_vec();
                bytes.swap(i, i + 1);
                let bad = String::from_utf8(bytes).unwrap();
                assert!(!mod11_2_accepts(&bad), "MOD 11-2 missed a transposition");
                assert!(IdNumber::parse_at(&bad, t).is_err());
                transpositions += 1;
            }

            // Wrong length.
            assert_eq!(
                IdNumber::parse_at(&s[..17], t),
                Err(IdNumberError::Length(17))
            );
            assert_eq!(
                IdNumber::parse_at(&format!("{s}0"), t),
                Err(IdNumberError::Length(19))
            );
            // A letter inside the first 17.
            let pos = r.below(17);
            let letter = char::from(b'A' + r.below(26) as u8).to_string();
            assert_eq!(
                IdNumber::parse_at(&splice(s, pos, &letter), t),
                Err(IdNumberError::Alphabet)
            );
            // Province 99, with a correct check character.
            let bad = with_id_check(&splice(&s[..17], 0, "99"));
            assert_eq!(
                IdNumber::parse_at(&bad, t),
                Err(IdNumberError::Province("99".into()))
            );
            // 30 February of the birth year, with a correct check character.
            let feb30 = format!("{}0230", &s[6..10]);
            let bad = with_id_check(&splice(&s[..17], 6, &feb30));
            assert_eq!(IdNumber::parse_at(&bad, t), Err(IdNumberError::BirthDate));
            // A birth date 1..=20000 days after today, with a correct check character.
            let future = t + Days::new(1 + r.below(20_000) as u64);
            let bad = with_id_check(&splice(&s[..17], 6, &future.format("%Y%m%d").to_string()));
            assert_eq!(
                IdNumber::parse_at(&bad, t),
                Err(IdNumberError::FutureBirthDate)
            );
        }
        assert!(substitutions > 5000 * 17 * 9);
        assert!(transpositions > 5000 * 10);
    }

    // DOMAIN.md / PIPL: masked display 1101**********123X; logs and panic messages never
    // contain the full number.
    #[test]
    fn identity_numbers_never_print_in_full() {
        let id = IdNumber::parse_at("11010519491231002X", today()).unwrap();
        assert_eq!(id.masked(), "1101**********002X");
        assert_eq!(format!("{id:?}"), "IdNumber(1101**********002X)");
        assert_eq!(format!("{id:#?}"), "IdNumber(1101**********002X)");
        assert_eq!(id.to_string(), "1101**********002X");
        assert_eq!(
            format!("{:?}", Some(&id)),
            "Some(IdNumber(1101**********002X))"
        );

        let mut r = Lcg(42);
        for _ in 0..2000 {
            let g = gen_id(&mut r);
            let id = IdNumber::parse_at(&g.number, today()).unwrap();
            let full = id.expose();
            let masked = id.masked();
            assert_eq!(masked.len(), 18);
            assert_eq!(&masked[..4], &full[..4]);
            assert_eq!(&masked[4..14], "**********");
            assert_eq!(&masked[14..], &full[14..]);
            // The birth date and region detail are hidden too.
            for shown in [
                masked.clone(),
                format!("{id:?}"),
                format!("{id}"),
                format!("{:?}", Ok::<_, IdNumberError>(id.clone())),
            ] {
                assert!(!shown.contains(full), "{shown}");
                assert!(!shown.contains(&full[6..14]), "{shown}");
            }
        }
    }

    // GB 32100-2015 final check (MOD 31) and GB 11714-1997 organisation-code check, on real
    // codes: 华为技术有限公司, 阿里巴巴(中国)有限公司, 深圳市腾讯计算机系统有限公司.
    #[test]
    fn real_credit_codes_parse() {
        for (code, region) in [
            ("914403001922038216", "440300"),
            ("91330100799655058B", "330100"),
            ("91440300708461136T", "440300"),
        ] {
            let c = CreditCode::parse(code).unwrap_or_else(|e| panic!("{code}: {e}"));
            assert_eq!(c.as_str(), code);
            assert_eq!(c.registering_authority(), '9');
            assert_eq!(c.organisation_type(), '1');
            assert_eq!(c.region_code(), region);
            assert!(!c.is_individual_business());
            assert_eq!(c.to_string(), code);
        }
        // Trimmed and uppercased.
        let c: CreditCode = " 91440300708461136t ".parse().unwrap();
        assert_eq!(c.as_str(), "91440300708461136T");
        assert_eq!(CreditCode::check_characters("91330100799655058"), Some('B'));
    }

    // GB 11714-1997: letters in an organisation code count A = 10 … Z = 35 (their value in
    // base 36), not their index in the GB 32100 alphabet. Real codes with lettered
    // organisation codes (the "MA…" codes issued since 2015), found in public sources.
    #[test]
    fn real_credit_codes_with_lettered_organisation_codes_parse() {
        let codes = [
            "91110108MA01G0FB09",
            "91440300MA5H8REU3K",
            "91440300MA5DLQQW0F",
            "91310000MA1K32MN7F",
            "91310000MA1FW1BXX2", // organisation code MA1FW1BX-X: check character X
        ];
        for code in codes {
            CreditCode::parse(code).unwrap_or_else(|e| panic!("{code}: {e}"));
        }
        // The other reading (letter value = GB 32100 index) disagrees with real codes.
        let index_check = |body: &str| {
            let sum: u32 = body
                .chars()
                .zip(GB11714_WEIGHTS)
                .map(|(c, w)| gb32100_value(c).unwrap() * w)
                .sum();
            match 11 - sum % 11 {
                10 => 'X',
                11 => '0',
                d => char::from(b'0' + d as u8),
            }
        };
        let disagreements = codes
            .iter()
            .filter(|code| index_check(&code[8..16]) != code.as_bytes()[16] as char)
            .count();
        assert!(disagreements > 0);
    }

    // GB 32100-2015: length 18, alphabet without I, O, Z, S, V; GB 11714-1997 organisation
    // check before the GB 32100 final check.
    #[test]
    fn malformed_credit_codes_say_why() {
        assert_eq!(CreditCode::parse(""), Err(CreditCodeError::Length(0)));
        assert_eq!(
            CreditCode::parse("9144030019220382"),
            Err(CreditCodeError::Length(16))
        );
        assert_eq!(
            CreditCode::parse("9144030019220382160"),
            Err(CreditCodeError::Length(19))
        );
        for (i, letter) in ['I', 'O', 'Z', 'S', 'V'].into_iter().enumerate() {
            let code = splice("914403001922038216", 3 + i, &letter.to_string());
            assert_eq!(
                CreditCode::parse(&code),
                Err(CreditCodeError::Alphabet(letter))
            );
            let lower = code.to_ascii_lowercase();
            assert_eq!(
                CreditCode::parse(&lower),
                Err(CreditCodeError::Alphabet(letter))
            );
        }
        assert_eq!(
            CreditCode::parse("9144030019220382中6"),
            Err(CreditCodeError::Alphabet('中'))
        );
        assert_eq!(
            CreditCode::parse("914403001922038316"),
            Err(CreditCodeError::OrganisationCheck {
                expected: 'X',
                found: '1'
            })
        );
        assert_eq!(
            CreditCode::parse("914403001922038217"),
            Err(CreditCodeError::CheckCharacter {
                expected: '6',
                found: '7'
            })
        );
        assert_eq!(
            CreditCodeError::CheckCharacter {
                expected: '6',
                found: '7'
            }
            .to_string(),
            "校验码错误：应为 6，实为 7"
        );
        // check_characters wants exactly 17 characters of the (uppercase) alphabet.
        assert_eq!(CreditCode::check_characters("91440300192203821"), Some('6'));
        assert_eq!(CreditCode::check_characters("91110108MA01G0FB0"), Some('9'));
        assert_eq!(CreditCode::check_characters("9144030019220382"), None);
        assert_eq!(CreditCode::check_characters("914403001922038216"), None);
        assert_eq!(CreditCode::check_characters("9144030019220382I"), None);
        assert_eq!(CreditCode::check_characters("91110108ma01g0fb0"), None);
    }

    // GB 32100-2015: authority 9 + type 2 is an individual business (个体工商户).
    #[test]
    fn individual_business_is_authority_9_type_2() {
        let body = "MA5T4K8L";
        let mut code = format!("92440300{body}{}", gb11714_check(body).unwrap());
        code.push(CreditCode::check_characters(&code).unwrap());
        let c = CreditCode::parse(&code).unwrap();
        assert!(c.is_individual_business());
        assert_eq!(c.region_code(), "440300");
        let mut other = format!("93440300{body}{}", gb11714_check(body).unwrap());
        other.push(CreditCode::check_characters(&other).unwrap());
        assert!(!CreditCode::parse(&other).unwrap().is_individual_business());
    }

    // GB 32100-2015 (MOD 31, prime modulus, non-zero weights with w[i+1] = 3·w[i]) and
    // GB 11714-1997: 3000 generated codes parse; every single substitution within the alphabet
    // is caught by the final check alone; every adjacent transposition of differing
    // characters is rejected (inside the first 17 by the final check, the swap of the
    // organisation check with the final check by the GB 11714 check).
    #[test]
    fn generated_credit_codes_parse_and_every_single_error_is_caught() {
        let mut r = Lcg(0x0003_2100_2015);
        let mut substitutions = 0;
        let mut transpositions = 0;
        let mut individual = 0;
        for _ in 0..3000 {
            let s = gen_credit_code(&mut r);
            let c = CreditCode::parse(&s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(c.as_str(), s);
            let b = s.as_bytes();
            assert_eq!(c.registering_authority(), char::from(b[0]));
            assert_eq!(c.organisation_type(), char::from(b[1]));
            assert_eq!(c.region_code(), &s[2..8]);
            assert_eq!(c.is_individual_business(), &s[..2] == "92");
            individual += usize::from(c.is_individual_business());
            let lower = CreditCode::parse(&s.to_ascii_lowercase()).unwrap();
            assert_eq!(lower, c);

            for (pos, &current) in b.iter().enumerate() {
                for &a in GB32100_ALPHABET {
                    if a == current {
                        continue;
                    }
                    let mut buf = *<&[u8; 18]>::try_from(b).unwrap();
                    buf[pos] = a;
                    let bad = std::str::from_utf8(&buf).unwrap();
                    assert_ne!(
                        CreditCode::check_characters(&bad[..17]),
                        Some(char::from(buf[17])),
                        "final check missed a substitution"
                    );
                    assert!(CreditCode::parse(bad).is_err());
                    substitutions += 1;
                }
            }

            for i in 0..17 {
                if b[i] == b[i + 1] {
                    continue;
                }
                let mut bytes = b.to_vec();
                bytes.swap(i, i + 1);
                let bad = String::from_utf8(bytes).unwrap();
                let e = CreditCode::parse(&bad).unwrap_err();
                if i < 16 {
                    assert_ne!(
                        CreditCode::check_characters(&bad[..17]),
                        Some(char::from(bad.as_bytes()[17])),
                        "final check missed a transposition"
                    );
                } else {
                    assert!(matches!(e, CreditCodeError::OrganisationCheck { .. }));
                }
                transpositions += 1;
            }
        }
        assert_eq!(substitutions, 3000 * 18 * 30);
        assert!(transpositions > 3000 * 15);
        assert!(
            individual > 0,
            "the generator should hit 个体工商户 sometimes"
        );
    }
}
