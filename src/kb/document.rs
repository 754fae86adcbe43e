//! The document model: what one file under `knowledge_base/documents/` holds once parsed.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A document id: lowercase ASCII letters, digits and `-`, 1–80 characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DocId(String);

impl DocId {
    pub fn parse(s: &str) -> Result<DocId, String> {
        let ok = !s.is_empty()
            && s.len() <= 80
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok {
            Ok(DocId(s.to_string()))
        } else {
            Err(format!(
                "文档编号“{s}”无效：只能用小写英文字母、数字和连字符，1–80个字符"
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DocId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        DocId::parse(&s)
    }
}
impl From<DocId> for String {
    fn from(d: DocId) -> String {
        d.0
    }
}
impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocId({})", self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DocKind {
    Guide,
    Policy,
    Faq,
    LifeEvent,
}

impl DocKind {
    pub fn label(self) -> &'static str {
        match self {
            DocKind::Guide => "办事指南",
            DocKind::Policy => "政策文件",
            DocKind::Faq => "常见问题",
            DocKind::LifeEvent => "一件事",
        }
    }
}

/// Front matter as written in the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrontMatter {
    pub id: DocId,
    pub title: String,
    pub kind: DocKind,
    pub issuing_body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_no: Option<String>,
    pub region: String,
    /// 成文日期: the date the document was signed, when it prints one.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "toml_date::optional"
    )]
    pub issued_on: Option<NaiveDate>,
    #[serde(deserialize_with = "toml_date::required")]
    pub effective_from: NaiveDate,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "toml_date::optional"
    )]
    pub effective_to: Option<NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<DocId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_type: Option<String>,
    pub tags: Vec<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
}

impl FrontMatter {
    /// In force on `day`: effective, not expired, not superseded.
    pub fn in_force_on(&self, day: NaiveDate) -> bool {
        self.superseded_by.is_none()
            && self.effective_from <= day
            && self.effective_to.is_none_or(|end| day <= end)
    }
}

/// What a passage is about, as far as a citizen's question goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aspect {
    Summary,
    Authority,
    Basis,
    Conditions,
    Materials,
    Process,
    TimeLimit,
    Fees,
    Place,
    Hours,
    Phone,
    Result,
    Visits,
    Items,
    Faq,
    Other,
}

impl Aspect {
    /// The aspect a section heading stands for.
    pub fn of_heading(heading: &str) -> Aspect {
        match heading {
            "概述" => Aspect::Summary,
            "实施机关" => Aspect::Authority,
            "设定依据" => Aspect::Basis,
            "受理条件" | "适用对象" => Aspect::Conditions,
            "申请材料" | "办理情形" => Aspect::Materials,
            "办理流程" => Aspect::Process,
            "办理时限" => Aspect::TimeLimit,
            "收费标准" => Aspect::Fees,
            "办理地点" => Aspect::Place,
            "办理时间" => Aspect::Hours,
            "咨询电话" => Aspect::Phone,
            "办理结果" => Aspect::Result,
            "到现场次数" => Aspect::Visits,
            "包含事项" => Aspect::Items,
            h if h.starts_with("问：") => Aspect::Faq,
            _ => Aspect::Other,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Aspect::Summary => "概述",
            Aspect::Authority => "实施机关",
            Aspect::Basis => "设定依据",
            Aspect::Conditions => "受理条件",
            Aspect::Materials => "申请材料",
            Aspect::Process => "办理流程",
            Aspect::TimeLimit => "办理时限",
            Aspect::Fees => "收费标准",
            Aspect::Place => "办理地点",
            Aspect::Hours => "办理时间",
            Aspect::Phone => "咨询电话",
            Aspect::Result => "办理结果",
            Aspect::Visits => "到现场次数",
            Aspect::Items => "包含事项",
            Aspect::Faq => "常见问题",
            Aspect::Other => "说明",
        }
    }
}

/// One `### 情形：…` block of a guide.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Situation {
    pub name: String,
    /// Words people use for this situation (the `适用：` line).
    pub cues: Vec<String>,
    /// The material lines, without the leading `- `.
    pub materials: Vec<String>,
}

/// A `## ` section of a document.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Section {
    pub heading: String,
    /// 1-based line of the heading in the file.
    pub line: usize,
    pub body: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub situations: Vec<Situation>,
    /// Other phrasings of an FAQ question (`其他问法：`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phrasings: Vec<String>,
}

impl Section {
    pub fn aspect(&self) -> Aspect {
        Aspect::of_heading(&self.heading)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Document {
    pub meta: FrontMatter,
    pub summary: String,
    pub sections: Vec<Section>,
    /// The Markdown body as written, for the document page.
    pub body: String,
}

impl Document {
    pub fn section(&self, aspect: Aspect) -> Option<&Section> {
        self.sections.iter().find(|s| s.aspect() == aspect)
    }
    pub fn situations(&self) -> &[Situation] {
        self.section(Aspect::Materials)
            .map(|s| s.situations.as_slice())
            .unwrap_or(&[])
    }
}

/// Dates in front matter are TOML dates (`2024-01-01`); in the catalog they are strings.
/// Both forms are accepted.
mod toml_date {
    use chrono::NaiveDate;
    use serde::{Deserialize, Deserializer, de::Error};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Toml(toml::value::Datetime),
        Text(String),
    }

    fn convert<E: Error>(raw: Raw) -> Result<NaiveDate, E> {
        let text = match raw {
            Raw::Toml(d) if d.time.is_none() && d.offset.is_none() => d.to_string(),
            Raw::Toml(d) => {
                return Err(E::custom(format!("“{d}”应为日期（YYYY-MM-DD），不带时间")));
            }
            Raw::Text(t) => t,
        };
        NaiveDate::parse_from_str(&text, "%Y-%m-%d")
            .map_err(|_| E::custom(format!("“{text}”不是有效日期（YYYY-MM-DD）")))
    }

    pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
        convert(Raw::deserialize(d)?)
    }

    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
        Option::<Raw>::deserialize(d)?.map(convert).transpose()
    }
}
