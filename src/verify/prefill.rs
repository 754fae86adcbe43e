//! Pre-filling forms from extracted fields, by mapping files an administrator edits.
//!
//! One TOML file per form in `forms/` at the repository root (the deployment's working
//! directory):
//!
//! ```toml
//! title = "个体工商户登记（备案）申请书"
//! documents = ["id_card_front", "id_card_back"]   # which documents fill this form
//!
//! [fields]                                         # form field = extracted field
//! "经营者姓名" = "name"
//! "出生日期" = { from = "birth_date", date_format = "%Y年%m月%d日" }
//! "性别" = { from = "sex", map = { "男" = "1", "女" = "2" } }
//! ```
//!
//! `from` names a field of one of the listed documents, or `document.field` to take it only
//! from that document (`business_license.address` is not the person's address); `date_format` (chrono strftime) reformats
//! a YYYY-MM-DD value (长期 stays 长期); `map` replaces whole values (others pass unchanged).
//! A malformed file is reported as `file:line: message`.

use super::card::{BACK_FIELDS, FRONT_FIELDS};
use super::classify::DocumentType;
use super::field::Field;
use super::licence::LICENCE_FIELDS;
use chrono::NaiveDate;
use chrono::format::{Item, StrftimeItems};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A mapping file that could not be used: where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingError {
    pub file: PathBuf,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for MappingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}

impl std::error::Error for MappingError {}

/// How one form field is filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Only from this document, when `from` was written `document.field`.
    pub document: Option<DocumentType>,
    pub from: String,
    pub date_format: Option<String>,
    pub map: BTreeMap<String, String>,
}

/// One form's mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    /// The file stem, e.g. `individual-business-registration`: the key in a report's prefill.
    pub name: String,
    pub title: String,
    pub documents: Vec<DocumentType>,
    pub fields: BTreeMap<String, Rule>,
}

/// Every form of a folder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forms {
    pub forms: Vec<Form>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDe {
    title: String,
    documents: Spanned<Vec<String>>,
    fields: BTreeMap<String, Spanned<RuleDe>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RuleDe {
    Short(String),
    Full(FullDe),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FullDe {
    from: String,
    date_format: Option<String>,
    #[serde(default)]
    map: BTreeMap<String, String>,
}

const DATE_FIELDS: [&str; 5] = [
    "birth_date",
    "valid_from",
    "valid_to",
    "established_date",
    "issue_date",
];

fn fields_of(d: DocumentType) -> &'static [&'static str] {
    match d {
        DocumentType::IdCardFront => &FRONT_FIELDS,
        DocumentType::IdCardBack => &BACK_FIELDS,
        DocumentType::BusinessLicense => &LICENCE_FIELDS,
        DocumentType::Unknown => &[],
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl Form {
    /// Parses one mapping file's text; `file` names it in errors.
    pub fn parse(file: &Path, text: &str) -> Result<Form, MappingError> {
        let err = |offset: usize, message: String| MappingError {
            file: file.to_owned(),
            line: line_of(text, offset),
            message,
        };
        let de: FileDe = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|s| s.start).unwrap_or(0);
            err(at, e.message().trim().to_owned())
        })?;
        let doc_span = de.documents.span().start;
        let mut documents = Vec::new();
        for d in de.documents.into_inner() {
            match DocumentType::parse(&d) {
                Some(t) if t != DocumentType::Unknown => documents.push(t),
                _ => {
                    return Err(err(
                        doc_span,
                        format!(
                            "documents 中的“{d}”不是 id_card_front、id_card_back 或 business_license"
                        ),
                    ));
                }
            }
        }
        if documents.is_empty() {
            return Err(err(doc_span, "documents 不能为空".into()));
        }
        let known: Vec<&str> = documents
            .iter()
            .flat_map(|d| fields_of(*d).iter().copied())
            .collect();
        let mut fields = BTreeMap::new();
        for (form_field, rule) in de.fields {
            let at = rule.span().start;
            let mut rule = match rule.into_inner() {
                RuleDe::Short(from) => Rule {
                    document: None,
                    from,
                    date_format: None,
                    map: BTreeMap::new(),
                },
                RuleDe::Full(f) => Rule {
                    document: None,
                    from: f.from,
                    date_format: f.date_format,
                    map: f.map,
                },
            };
            if let Some((doc, field)) = rule.from.split_once('.') {
                let d = DocumentType::parse(doc)
                    .filter(|d| documents.contains(d))
                    .ok_or_else(|| {
                        err(
                            at,
                            format!(
                                "“{form_field}”的来源“{}”：“{doc}”不在 documents 中",
                                rule.from
                            ),
                        )
                    })?;
                if !fields_of(d).contains(&field) {
                    return Err(err(
                        at,
                        format!(
                            "“{form_field}”的来源“{}”不是{}的字段（可用：{}）",
                            rule.from,
                            d.label(),
                            fields_of(d).join("、")
                        ),
                    ));
                }
                rule.document = Some(d);
                rule.from = field.to_owned();
            } else if !known.contains(&rule.from.as_str()) {
                return Err(err(
                    at,
                    format!(
                        "“{form_field}”的来源“{}”不是所列证件的字段（可用：{}）",
                        rule.from,
                        known.join("、")
                    ),
                ));
            }
            if let Some(fmt) = &rule.date_format {
                if !DATE_FIELDS.contains(&rule.from.as_str()) {
                    return Err(err(
                        at,
                        format!(
                            "“{form_field}”：date_format 只能用于日期字段，“{}”不是",
                            rule.from
                        ),
                    ));
                }
                if fmt.is_empty() || StrftimeItems::new(fmt).any(|i| matches!(i, Item::Error)) {
                    return Err(err(
                        at,
                        format!("“{form_field}”：date_format “{fmt}”不是有效的日期格式"),
                    ));
                }
            }
            fields.insert(form_field, rule);
        }
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Form {
            name,
            title: de.title,
            documents,
            fields,
        })
    }

    /// The form's fields filled from `fields`, read from the documents `present`; form fields
    /// whose source was not read (or whose document is not present) are left out.
    pub fn fill(
        &self,
        present: &[DocumentType],
        fields: &BTreeMap<String, Field>,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (form_field, rule) in &self.fields {
            if rule.document.is_some_and(|d| !present.contains(&d)) {
                continue;
            }
            let Some(f) = fields.get(&rule.from) else {
                continue;
            };
            let mut v = f.value.expose().to_owned();
            if let (Some(fmt), Ok(d)) =
                (&rule.date_format, NaiveDate::parse_from_str(&v, "%Y-%m-%d"))
            {
                v = d.format(fmt).to_string();
            }
            if let Some(m) = rule.map.get(&v) {
                v = m.clone();
            }
            out.insert(form_field.clone(), v);
        }
        out
    }
}

impl Forms {
    /// Every `*.toml` in `dir`, in file-name order. A missing folder is no forms; the first
    /// malformed file is an error naming its file and line.
    pub fn load(dir: &Path) -> Result<Forms, MappingError> {
        let io = |e: std::io::Error| MappingError {
            file: dir.to_owned(),
            line: 0,
            message: e.to_string(),
        };
        if !dir.exists() {
            return Ok(Forms::default());
        }
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        paths.sort();
        let mut forms = Vec::new();
        for p in paths {
            let text = std::fs::read_to_string(&p).map_err(|e| MappingError {
                file: p.clone(),
                line: 0,
                message: e.to_string(),
            })?;
            forms.push(Form::parse(&p, &text)?);
        }
        Ok(Forms { forms })
    }

    /// Every form one of whose documents is among `present`, filled; keyed by form name.
    pub fn fill(
        &self,
        present: &[DocumentType],
        fields: &BTreeMap<String, Field>,
    ) -> BTreeMap<String, BTreeMap<String, String>> {
        self.forms
            .iter()
            .filter(|f| f.documents.iter().any(|d| present.contains(d)))
            .map(|f| (f.name.clone(), f.fill(present, fields)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::field::FieldValue;
    use super::*;

    fn parse(text: &str) -> Result<Form, MappingError> {
        Form::parse(Path::new("forms/test.toml"), text)
    }

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, Field> {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    (*k).to_owned(),
                    Field {
                        value: FieldValue::personal(*v),
                        confidence: 1.0,
                        quad: [[0.0; 2]; 4],
                    },
                )
            })
            .collect()
    }

    #[test]
    fn mapping_with_transforms() {
        let form = parse(
            r#"
title = "测试表"
documents = ["id_card_front", "id_card_back", "business_license"]

[fields]
"姓名" = "name"
"出生日期" = { from = "birth_date", date_format = "%Y年%m月%d日" }
"有效期至" = { from = "valid_to", date_format = "%Y/%m/%d" }
"性别代码" = { from = "sex", map = { "男" = "1", "女" = "2" } }
"住址" = "address"
"执照住所" = "business_license.address"
"#,
        )
        .unwrap();
        assert_eq!(form.name, "test");
        let front = [DocumentType::IdCardFront];
        let read = fields(&[
            ("name", "张三"),
            ("birth_date", "1990-03-07"),
            ("sex", "女"),
            ("valid_to", "长期"),
            ("address", "示例市"),
        ]);
        let filled = form.fill(&front, &read);
        assert_eq!(filled["姓名"], "张三");
        assert_eq!(filled["出生日期"], "1990年03月07日");
        assert_eq!(filled["性别代码"], "2");
        assert_eq!(filled["有效期至"], "长期");
        assert_eq!(filled["住址"], "示例市");
        assert!(
            !filled.contains_key("执照住所"),
            "a licence field is not filled from a card"
        );
        assert!(!filled.contains_key("民族"), "unread fields are left out");
        let filled = form.fill(&[DocumentType::BusinessLicense], &read);
        assert_eq!(filled["执照住所"], "示例市");
        let forms = Forms { forms: vec![form] };
        assert_eq!(
            forms.fill(&[DocumentType::Unknown], &BTreeMap::new()).len(),
            0
        );
        assert_eq!(
            forms
                .fill(&[DocumentType::IdCardBack], &BTreeMap::new())
                .len(),
            1
        );
        // A qualified source must name a listed document and one of its fields.
        let e = parse("title = \"x\"\ndocuments = [\"id_card_front\"]\n[fields]\n\"a\" = \"business_license.address\"\n").unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        let e = parse("title = \"x\"\ndocuments = [\"id_card_front\"]\n[fields]\n\"a\" = \"id_card_front.credit_code\"\n").unwrap_err();
        assert!(e.message.contains("credit_code"), "{e}");
    }

    #[test]
    fn malformed_mappings_name_file_and_line() {
        let e = parse(
            "title = \"x\"\ndocuments = [\"id_card_front\"]\n[fields]\n\"姓名\" = \"nmae\"\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        assert!(e.to_string().starts_with("forms/test.toml:4: "), "{e}");
        assert!(e.message.contains("nmae"));
        // TOML syntax.
        let e = parse("title = \"x\"\ndocuments = [\"id_card_front\"]\n[fields]\n\"姓名\" = \n")
            .unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        // Unknown document kind.
        let e = parse("title = \"x\"\n\ndocuments = [\"passport\"]\n[fields]\n").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        // A date format on a field that is not a date; a broken format.
        let e = parse("title = \"x\"\ndocuments = [\"id_card_front\"]\n[fields]\n\"a\" = \"name\"\n\"b\" = { from = \"name\", date_format = \"%Y\" }\n").unwrap_err();
        assert_eq!(e.line, 5, "{e}");
        let e = parse("title = \"x\"\ndocuments = [\"id_card_front\"]\n[fields]\n\"b\" = { from = \"birth_date\", date_format = \"%Q\" }\n").unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        // An unknown key in a rule.
        let e = parse("title = \"x\"\ndocuments = [\"id_card_front\"]\n[fields]\n\"b\" = { from = \"birth_date\", fromat = \"%Y\" }\n").unwrap_err();
        assert_eq!(e.line, 4, "{e}");
    }

    #[test]
    fn the_shipped_forms_load() {
        let forms = Forms::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("forms")).unwrap();
        let names: Vec<&str> = forms.forms.iter().map(|f| f.name.as_str()).collect();
        assert!(
            names.contains(&"individual-business-registration"),
            "{names:?}"
        );
        assert!(names.contains(&"social-security-card"), "{names:?}");
        assert!(
            Forms::load(Path::new("/nonexistent/forms"))
                .unwrap()
                .forms
                .is_empty()
        );
    }
}
