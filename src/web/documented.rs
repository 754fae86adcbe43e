//! Responses every operation of a kind can give, added to the OpenAPI document so that it
//! states them without repeating them on each handler: a body that cannot be read (400), of
//! the wrong content type (415), too large (413) or with a field of the wrong type (422); a
//! query string that cannot be read (400). All are problem reports.
//!
//! And the schemas of what the handlers check on a text, built from the same rules the
//! server applies: not blank (`char::is_whitespace`, as `str::trim` reads it), at most so
//! many characters as sent, no control characters (`char::is_control`), a value out of a
//! fixed list, base64 image data.

use utoipa::Modify;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{ContentBuilder, Object, OpenApi, Ref, RefOr, ResponseBuilder};

/// The characters `char::is_whitespace` (and so `str::trim`) takes for white space: the
/// Unicode White_Space property.
const WHITESPACE: &[(char, char)] = &[
    ('\t', '\r'),
    (' ', ' '),
    ('\u{85}', '\u{85}'),
    ('\u{a0}', '\u{a0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200a}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202f}', '\u{202f}'),
    ('\u{205f}', '\u{205f}'),
    ('\u{3000}', '\u{3000}'),
];

/// The characters `char::is_control` takes for control characters (general category Cc).
const CONTROL: &[(char, char)] = &[('\0', '\u{1f}'), ('\u{7f}', '\u{9f}')];

/// A regular-expression character class of `ranges`, in `\uXXXX` escapes, which ECMA-262
/// (the OpenAPI document's dialect) and the common engines read alike.
fn class(negated: bool, ranges: &[(char, char)]) -> String {
    let mut out = String::from(if negated { "[^" } else { "[" });
    for &(a, b) in ranges {
        out.push_str(&format!("\\u{:04X}", a as u32));
        if a != b {
            out.push_str(&format!("-\\u{:04X}", b as u32));
        }
    }
    out.push(']');
    out
}

/// A string of at most `max` characters as sent.
fn text(max: usize, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .max_length(Some(max))
}

/// A text the server takes if it holds anything but white space and is at most `max`
/// characters long as sent.
pub fn not_blank(max: usize, description: &str) -> Object {
    text(max, description)
        .min_length(Some(1))
        .pattern(Some(class(true, WHITESPACE)))
        .build()
}

/// A text of at most `max` characters as sent, without control characters (line breaks and
/// tabs included).
pub fn no_controls(max: usize, description: &str) -> Object {
    text(max, description)
        .pattern(Some(format!("^{}*$", class(true, CONTROL))))
        .build()
}

/// A text of at most `max` characters as sent.
pub fn at_most(max: usize, description: &str) -> Object {
    text(max, description).build()
}

/// `schema`, or null (for an optional field).
pub fn or_null(mut schema: Object) -> Object {
    schema.schema_type = SchemaType::from_iter([Type::String, Type::Null]);
    schema
}

/// One of `values`.
pub fn one_of<'a>(values: impl IntoIterator<Item = &'a str>, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(values))
        .build()
}

/// What `handoff::PhoneNumber::parse` takes: a mobile number (11 digits, 1 then 3–9) or a
/// landline with its area code (10–12 digits, 0 then 1–9), digits full- or half-width, with
/// spaces, dashes and brackets anywhere.
pub fn phone(description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(Some(phone_pattern()))
        .build()
}

fn phone_pattern() -> String {
    let s = "[ \\-()\\uFF08\\uFF09]*";
    let d = |from: char| format!("[{from}-9\\uFF1{}-\\uFF19]", from as u32 - '0' as u32);
    format!(
        "^(?:{s}[1\\uFF11]{s}{}(?:{s}{}){{9}}|{s}[0\\uFF10]{s}{}(?:{s}{}){{8,10}}){s}$",
        d('3'),
        d('0'),
        d('1'),
        d('0')
    )
}

/// What `verify_api::decode_base64` decodes as an image: standard base64 (padded or not,
/// canonical, ASCII white space anywhere) of at least one byte, optionally after a `data:…,`
/// prefix; when `optional`, also ASCII white space alone (no image). Whether the bytes are an
/// image of a supported format no schema can say (415 when not).
pub fn base64_image(optional: bool, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .content_encoding("base64")
        .pattern(Some(base64_pattern(optional)))
        .build()
}

fn base64_pattern(optional: bool) -> String {
    let w = "[\\t\\n\\f\\r ]*";
    let b = format!("[A-Za-z0-9+/]{w}");
    let quad = format!("{b}{b}{b}{b}");
    // The last group: four characters, three (two bytes, the last character's two low bits
    // zero, one `=` or none) or two (one byte, four low bits zero, `==` or none).
    let last = format!("(?:{quad}|{b}{b}[AEIMQUYcgkosw048]{w}(?:={w})?|{b}[AQgw]{w}(?:={w}={w})?)");
    let image = format!("(?:data:(?:[^,]*,)?)?{w}(?:{quad})*{last}");
    if optional {
        format!("^(?:{w}|{image})$")
    } else {
        format!("^{image}$")
    }
}

pub struct CommonResponses;

fn add(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        "application/problem+json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("Problem")))
                            .build(),
                    )
                    .build(),
            )
        });
}

impl Modify for CommonResponses {
    fn modify(&self, api: &mut OpenApi) {
        for item in api.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                if op.request_body.is_some() {
                    add(op, "400", "The body cannot be read");
                    add(op, "413", "The body is too large");
                    add(
                        op,
                        "415",
                        "The body is not of the content type this operation takes",
                    );
                    add(
                        op,
                        "422",
                        "A field of the body is missing or of the wrong type",
                    );
                }
                let query = op.parameters.iter().flatten().any(|p| match p {
                    RefOr::T(p) => p.parameter_in == ParameterIn::Query,
                    RefOr::Ref(_) => false,
                });
                if query {
                    add(op, "400", "A query parameter cannot be read");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::OpenApi as _;

    fn within(ranges: &[(char, char)], c: char) -> bool {
        ranges.iter().any(|&(a, b)| (a..=b).contains(&c))
    }

    // The classes in the document are the server's own rules, character for character.
    #[test]
    fn the_classes_are_the_servers_whitespace_and_control_characters() {
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            assert_eq!(within(WHITESPACE, c), c.is_whitespace(), "{c:?}");
            assert_eq!(within(CONTROL, c), c.is_control(), "{c:?}");
        }
        assert_eq!(
            class(false, &[('\t', '\r'), (' ', ' ')]),
            "[\\u0009-\\u000D\\u0020]"
        );
    }

    // The phone pattern takes exactly the numbers the server takes for a callback.
    #[test]
    fn the_phone_pattern_is_what_the_server_takes() {
        use crate::handoff::PhoneNumber;
        let pattern = regex::Regex::new(&phone_pattern()).unwrap();
        let alphabet: Vec<char> = "0123456789０１３９ -()（）a+".chars().collect();
        let mut seed = 7u64;
        let mut samples: Vec<String> = [
            "13912345678",
            "139 1234 5678",
            "（0571）8765-4321",
            "１３９１２３４５６７８",
            "12912345678",
            "0012345678",
            "",
            "010-1234567",
        ]
        .map(String::from)
        .to_vec();
        for _ in 0..200_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = 9 + (seed >> 33) as usize % 8;
            let mut x = seed;
            let mut s = String::from(if seed >> 60 & 1 == 0 { "1" } else { "0" });
            for _ in 0..len {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                s.push(alphabet[(x >> 33) as usize % alphabet.len()]);
            }
            samples.push(s);
        }
        let mut taken = 0;
        for s in &samples {
            let server = PhoneNumber::parse(s).is_some();
            taken += usize::from(server);
            assert_eq!(pattern.is_match(s), server, "{s:?}");
        }
        assert!(taken > 100, "the samples reach valid numbers: {taken}");
    }

    // The image pattern takes exactly the strings the server decodes to at least one byte
    // (and, for the back, white space alone): canonical padding and trailing bits, white
    // space anywhere, the `data:` prefix with or without its comma.
    #[test]
    fn the_image_pattern_is_what_the_server_decodes() {
        use crate::web::verify_api::decode_base64;
        let front = regex::Regex::new(&base64_pattern(false)).unwrap();
        let back = regex::Regex::new(&base64_pattern(true)).unwrap();
        let mut samples: Vec<String> = [
            "",
            " ",
            "QQ",
            "QQ==",
            "QQ=",
            "QR==",
            "QUI",
            "QUI=",
            "QUJ=",
            "QUJD",
            "Q",
            "QUJDR",
            "QU JD\n",
            "data:image/png;base64,QUJD",
            "data:QUJD",
            "data:,",
            "data:",
            "QUJD====",
            "\u{b}QUJD",
            "QUJD\u{3000}",
            "Q\tU\rJ\u{c}D",
        ]
        .map(String::from)
        .to_vec();
        let alphabet: Vec<char> = "AQEgBw+/=Z9 \n:,da\u{b}".chars().collect();
        let mut seed: u64 = 20261206;
        for _ in 0..50_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = (seed >> 59) as usize % 10;
            let s: String = (0..len)
                .map(|i| alphabet[((seed >> (i * 5 % 55)) as usize) % alphabet.len()])
                .collect();
            samples.push(s.clone());
            samples.push(format!("data:x,{s}"));
        }
        for s in &samples {
            let decoded = decode_base64(s).is_some_and(|b| !b.is_empty());
            assert_eq!(front.is_match(s), decoded, "front {s:?}");
            let none = s.trim_ascii().is_empty();
            assert_eq!(back.is_match(s), none || decoded, "back {s:?}");
        }
    }

    #[test]
    fn body_and_query_problems_are_documented_everywhere() {
        let api = crate::web::ApiDoc::openapi();
        let chat = api.paths.paths["/api/v1/chat"].post.as_ref().unwrap();
        for status in ["400", "413", "415", "422"] {
            assert!(chat.responses.responses.contains_key(status), "{status}");
        }
        let log = api.paths.paths["/api/v1/access-log"].get.as_ref().unwrap();
        assert!(log.responses.responses.contains_key("400"));
        let health = api.paths.paths["/healthz"].get.as_ref().unwrap();
        assert!(!health.responses.responses.contains_key("400"));
    }

    // The job and its report are described field by field, not as a bare object.
    #[test]
    fn the_job_and_the_report_are_described_field_by_field() {
        let api = serde_json::to_value(crate::web::ApiDoc::openapi()).unwrap();
        let schemas = &api["components"]["schemas"];
        let job = &schemas["JobView"]["properties"];
        assert!(
            job["report"]
                .to_string()
                .contains("#/components/schemas/Report")
        );
        assert!(job["verdict"].to_string().contains("Verdict"), "{job}");
        let report = &schemas["Report"]["properties"];
        for key in [
            "document_type",
            "fields",
            "checks",
            "warnings",
            "verdict",
            "reasons",
            "prefill",
            "frames",
            "verdict_as_read",
            "confirmed",
        ] {
            assert!(report.get(key).is_some(), "{key} in {report}");
        }
        assert!(report["fields"].to_string().contains("Field"));
        let field = &schemas["Field"]["properties"];
        for key in ["value", "confidence", "box", "edited"] {
            assert!(field.get(key).is_some(), "{key} in {field}");
        }
        assert_eq!(
            schemas["Verdict"]["enum"],
            serde_json::json!(["pass", "review", "fail"])
        );
        let verified = schemas["Verified"].to_string();
        assert!(
            verified.contains("job_id") && verified.contains("Report"),
            "{verified}"
        );
    }
}
