//! Which document a page shows, from the labels printed on it.
//!
//! The front of a resident identity card (人像面) carries 姓名 性别 民族 出生 住址 公民身份号码;
//! the back (国徽面) 中华人民共和国 居民身份证 签发机关 有效期限; a business licence 营业执照
//! 统一社会信用代码 and its field labels (DOMAIN.md, "The resident identity card", "The business
//! licence"). Each label found counts one; the kind with most labels wins if it has at least
//! two, so a stray word does not decide.

use super::field::is_boilerplate;
use super::page::OcrPage;
use serde::{Deserialize, Serialize};

/// The kinds of document the analysis knows.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DocumentType {
    IdCardFront,
    IdCardBack,
    BusinessLicense,
    #[default]
    Unknown,
}

impl DocumentType {
    /// The API name (`id_card_front`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentType::IdCardFront => "id_card_front",
            DocumentType::IdCardBack => "id_card_back",
            DocumentType::BusinessLicense => "business_license",
            DocumentType::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<DocumentType> {
        [
            DocumentType::IdCardFront,
            DocumentType::IdCardBack,
            DocumentType::BusinessLicense,
            DocumentType::Unknown,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }

    /// The name a clerk reads.
    pub fn label(self) -> &'static str {
        match self {
            DocumentType::IdCardFront => "居民身份证人像面",
            DocumentType::IdCardBack => "居民身份证国徽面",
            DocumentType::BusinessLicense => "营业执照",
            DocumentType::Unknown => "无法识别的证件",
        }
    }
}

const FRONT: &[&str] = &[
    "姓名",
    "性别",
    "民族",
    "出生",
    "住址",
    "公民身份",
    "身份号码",
];
const BACK: &[&str] = &["中华人民共和国", "居民身份证", "签发机关", "有效期限"];
const LICENCE: &[&str] = &[
    "营业执照",
    "统一社会信用代码",
    "法定代表人",
    "经营者",
    "负责人",
    "注册资本",
    "成立日期",
    "注册日期",
    "营业期限",
    "经营范围",
    "经营场所",
    "登记机关",
    "组成形式",
];

/// Classifies a page by counting the labels of each kind found in its text.
pub fn classify(page: &OcrPage) -> DocumentType {
    let text: String = page
        .lines
        .iter()
        .filter(|l| !is_boilerplate(&l.text) || l.text.contains("营业执照"))
        .flat_map(|l| l.text.chars().filter(|c| !c.is_whitespace()))
        .collect();
    let score = |labels: &[&str]| labels.iter().filter(|l| text.contains(*l)).count();
    let scores = [
        (score(FRONT), DocumentType::IdCardFront),
        (score(BACK), DocumentType::IdCardBack),
        (score(LICENCE), DocumentType::BusinessLicense),
    ];
    // Ties go to the earlier kind; fewer than two labels is not enough to decide.
    let best = scores
        .iter()
        .fold(scores[0], |b, &s| if s.0 > b.0 { s } else { b });
    if best.0 >= 2 {
        best.1
    } else {
        DocumentType::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::super::page::{line_at, page_of};
    use super::*;

    fn page(texts: &[&str]) -> OcrPage {
        let lines = texts
            .iter()
            .enumerate()
            .map(|(i, t)| line_at(t, 0.95, 10.0, 10.0 + 30.0 * i as f32, 300.0, 24.0))
            .collect();
        page_of(856, 540, lines)
    }

    // DOMAIN.md "The resident identity card": front labels 姓名 性别 民族 出生 住址 公民身份号码.
    #[test]
    fn identity_card_front() {
        let p = page(&[
            "姓名张三",
            "性别男民族汉",
            "出生1990年3月7日",
            "住址示例市",
            "公民身份号码",
        ]);
        assert_eq!(classify(&p), DocumentType::IdCardFront);
    }

    // DOMAIN.md: back labels 中华人民共和国 居民身份证 签发机关 有效期限.
    #[test]
    fn identity_card_back() {
        let p = page(&[
            "中华人民共和国",
            "居民身份证",
            "签发机关示例市公安局",
            "有效期限2015.03.01-2035.03.01",
        ]);
        assert_eq!(classify(&p), DocumentType::IdCardBack);
    }

    // DOMAIN.md "The business licence": 营业执照, 统一社会信用代码 and its field labels.
    #[test]
    fn business_licence_even_with_its_title_misread() {
        let p = page(&[
            "营业枕照",
            "统一社会信用代码91350100MA000100Y4",
            "名称示例有限公司",
            "法定代表人李四",
            "经营范围零售",
        ]);
        assert_eq!(classify(&p), DocumentType::BusinessLicense);
    }

    #[test]
    fn anything_else_is_unknown() {
        assert_eq!(
            classify(&page(&["样本", "欢迎光临", "姓名"])),
            DocumentType::Unknown
        );
        assert_eq!(classify(&page(&[])), DocumentType::Unknown);
        assert_eq!(
            DocumentType::parse("business_license"),
            Some(DocumentType::BusinessLicense)
        );
        assert_eq!(
            serde_json::to_string(&DocumentType::IdCardBack).unwrap(),
            "\"id_card_back\""
        );
    }
}
