//! placeholder until the identifier module lands
pub struct IdNumber;
pub struct CreditCode;
impl IdNumber {
    pub fn parse(_: &str) -> Result<IdNumber, String> {
        Err(String::new())
    }
}
impl CreditCode {
    pub fn parse(_: &str) -> Result<CreditCode, String> {
        Err(String::new())
    }
}
