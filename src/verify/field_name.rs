//! The names of the fields the analysis reads, each with its one Chinese label, the way its
//! value is masked, whether it holds personal data, and where it is printed.
//!
//! A report keeps its fields under these names' API spelling (`name`, `id_number`, …): the
//! JSON API, the stored reports and the forms' mappings use it; everything that shows a
//! field to a person takes its label from here.

use super::classify::DocumentType;
use serde::{Deserialize, Serialize};

/// A field of an identity card (front, then back) or of a business licence, in the order
/// the documents print them.
#[derive(
    Debug,
    Clone,
    Copy,
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
pub enum FieldName {
    Name,
    Sex,
    Ethnicity,
    BirthDate,
    Address,
    IdNumber,
    IssuingAuthority,
    ValidFrom,
    ValidTo,
    CreditCode,
    Type,
    LegalRepresentative,
    RegisteredCapital,
    EstablishedDate,
    BusinessTerm,
    BusinessScope,
    RegistrationAuthority,
    IssueDate,
}

/// How a value is masked when it is personal (DOMAIN.md "Personal information and security":
/// ID 1101**********123X, name 张*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskKind {
    /// A person's name: the first character kept.
    PersonName,
    /// An address: the first six characters kept.
    Address,
    /// Anything else (an identity number is masked by the redaction rules first): the
    /// first third kept.
    Other,
}

impl FieldName {
    pub const ALL: [FieldName; 18] = [
        FieldName::Name,
        FieldName::Sex,
        FieldName::Ethnicity,
        FieldName::BirthDate,
        FieldName::Address,
        FieldName::IdNumber,
        FieldName::IssuingAuthority,
        FieldName::ValidFrom,
        FieldName::ValidTo,
        FieldName::CreditCode,
        FieldName::Type,
        FieldName::LegalRepresentative,
        FieldName::RegisteredCapital,
        FieldName::EstablishedDate,
        FieldName::BusinessTerm,
        FieldName::BusinessScope,
        FieldName::RegistrationAuthority,
        FieldName::IssueDate,
    ];

    /// The API name (`id_number`, …), as reports and form mappings spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldName::Name => "name",
            FieldName::Sex => "sex",
            FieldName::Ethnicity => "ethnicity",
            FieldName::BirthDate => "birth_date",
            FieldName::Address => "address",
            FieldName::IdNumber => "id_number",
            FieldName::IssuingAuthority => "issuing_authority",
            FieldName::ValidFrom => "valid_from",
            FieldName::ValidTo => "valid_to",
            FieldName::CreditCode => "credit_code",
            FieldName::Type => "type",
            FieldName::LegalRepresentative => "legal_representative",
            FieldName::RegisteredCapital => "registered_capital",
            FieldName::EstablishedDate => "established_date",
            FieldName::BusinessTerm => "business_term",
            FieldName::BusinessScope => "business_scope",
            FieldName::RegistrationAuthority => "registration_authority",
            FieldName::IssueDate => "issue_date",
        }
    }

    pub fn parse(s: &str) -> Option<FieldName> {
        FieldName::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The field's Chinese label, for reasons, the access log and pages. A name both
    /// documents print under different words carries both (姓名/名称). The card's validity
    /// is printed as one 有效期限 (start–end); its two halves are 有效期起始日 and 有效期截止日.
    pub fn label(self) -> &'static str {
        match self {
            FieldName::Name => "姓名/名称",
            FieldName::Sex => "性别",
            FieldName::Ethnicity => "民族",
            FieldName::BirthDate => "出生日期",
            FieldName::Address => "住址/住所",
            FieldName::IdNumber => "公民身份号码",
            FieldName::IssuingAuthority => "签发机关",
            FieldName::ValidFrom => "有效期起始日",
            FieldName::ValidTo => "有效期截止日",
            FieldName::CreditCode => "统一社会信用代码",
            FieldName::Type => "类型",
            FieldName::LegalRepresentative => "法定代表人/经营者/负责人",
            FieldName::RegisteredCapital => "注册资本",
            FieldName::EstablishedDate => "成立日期",
            FieldName::BusinessTerm => "营业期限",
            FieldName::BusinessScope => "经营范围",
            FieldName::RegistrationAuthority => "登记机关",
            FieldName::IssueDate => "发照日期",
        }
    }

    /// The label on a page about one document: of a double label, the part that document
    /// prints (a card's 姓名, a licence's 名称).
    pub fn label_on(self, document: DocumentType) -> &'static str {
        let label = self.label();
        let mut parts = label.split('/');
        match (document, self) {
            (DocumentType::IdCardFront | DocumentType::IdCardBack, FieldName::Name)
            | (DocumentType::IdCardFront | DocumentType::IdCardBack, FieldName::Address) => {
                parts.next().unwrap_or(label)
            }
            (DocumentType::BusinessLicense, FieldName::Name | FieldName::Address) => {
                parts.nth(1).unwrap_or(label)
            }
            _ => label,
        }
    }

    /// Whether a value read under this name on `document` is personal data: everything on
    /// an identity card but the issuing authority; on a licence, the person named as its
    /// legal representative or operator. A field of an unknown document is personal. The
    /// extractors mark values so (`FieldValue::personal`/`public`); a stored report, whose
    /// JSON carries no flag, gets them back from here.
    pub fn personal_on(self, document: DocumentType) -> bool {
        match document {
            DocumentType::BusinessLicense => self == FieldName::LegalRepresentative,
            DocumentType::IdCardFront | DocumentType::IdCardBack => {
                self != FieldName::IssuingAuthority
            }
            DocumentType::Unknown => true,
        }
    }

    /// How a personal value under this name is masked.
    pub fn mask_kind(self) -> MaskKind {
        match self {
            FieldName::Name | FieldName::LegalRepresentative => MaskKind::PersonName,
            FieldName::Address => MaskKind::Address,
            _ => MaskKind::Other,
        }
    }

    /// Fields holding one date, written YYYY-MM-DD (`valid_to` may also be 长期).
    pub fn is_date(self) -> bool {
        matches!(
            self,
            FieldName::BirthDate
                | FieldName::ValidFrom
                | FieldName::ValidTo
                | FieldName::EstablishedDate
                | FieldName::IssueDate
        )
    }

    /// A card's back field (read on the second image when both sides were uploaded).
    pub fn on_card_back(self) -> bool {
        matches!(
            self,
            FieldName::IssuingAuthority | FieldName::ValidFrom | FieldName::ValidTo
        )
    }
}

/// The label of a field named `name`: its own, or the name itself when no field has it.
pub fn label_of(name: &str) -> &str {
    match FieldName::parse(name) {
        Some(f) => f.label(),
        None => name,
    }
}

impl std::fmt::Display for FieldName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{card, licence};
    use super::*;

    #[test]
    fn names_spell_as_the_api_and_cover_every_extracted_field() {
        for f in FieldName::ALL {
            assert_eq!(FieldName::parse(f.as_str()), Some(f));
            assert_eq!(
                serde_json::to_value(f).unwrap(),
                serde_json::json!(f.as_str())
            );
        }
        for n in card::FRONT_FIELDS
            .iter()
            .chain(&card::BACK_FIELDS)
            .chain(&licence::LICENCE_FIELDS)
        {
            assert!(FieldName::parse(n).is_some(), "{n} has no FieldName");
        }
        for n in card::BACK_FIELDS {
            assert!(FieldName::parse(n).unwrap().on_card_back());
        }
        assert_eq!(FieldName::parse("nickname"), None);
        assert_eq!(label_of("nickname"), "nickname");
    }

    // DOMAIN.md "The resident identity card": the back prints 有效期限 (start–end); one label
    // per half, the same in reasons, pages and the access log.
    #[test]
    fn one_label_each_and_the_document_s_own_words_on_its_page() {
        assert_eq!(FieldName::ValidFrom.label(), "有效期起始日");
        assert_eq!(FieldName::ValidTo.label(), "有效期截止日");
        assert_eq!(FieldName::Name.label_on(DocumentType::IdCardFront), "姓名");
        assert_eq!(
            FieldName::Name.label_on(DocumentType::BusinessLicense),
            "名称"
        );
        assert_eq!(
            FieldName::Address.label_on(DocumentType::BusinessLicense),
            "住所"
        );
        assert_eq!(FieldName::Name.label_on(DocumentType::Unknown), "姓名/名称");
        let labels: std::collections::BTreeSet<_> =
            FieldName::ALL.iter().map(|f| f.label()).collect();
        assert_eq!(labels.len(), FieldName::ALL.len(), "labels are distinct");
    }
}
