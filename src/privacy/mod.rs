//! Personal data protection: redaction of identity, mobile and bank card numbers in what
//! people type, before anything is stored or logged (个人信息保护法; DOMAIN.md "Personal
//! information and security").

pub mod redact;

pub use redact::{Redacted, redact};
