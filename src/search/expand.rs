//! Query expansion: colloquial words citizens use mapped to the official terms in documents,
//! from the editable `synonyms.txt` of the knowledge base.

use crate::kb::settings::SynonymRule;
use crate::text::normalise;

/// The official terms whose colloquial phrase occurs in `question`, in rule order, deduplicated.
pub fn expansions<'a>(rules: &'a [SynonymRule], question: &str) -> Vec<&'a str> {
    let q = normalise(question);
    let mut out: Vec<&str> = Vec::new();
    for r in rules {
        if q.contains(&r.phrase) {
            for o in &r.official {
                if !out.contains(&o.as_str()) && !q.contains(o.as_str()) {
                    out.push(o);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kb::settings::parse_synonyms;

    #[test]
    fn colloquial_phrases_expand_to_official_terms() {
        let (rules, bad) = parse_synonyms(
            "# 注释\n上户口 => 出生登记\n驾照 => 机动车驾驶证，驾驶证\nbroken line\nID card => 身份证\n",
        );
        assert_eq!(bad, vec![4]);
        assert_eq!(expansions(&rules, "孩子怎么上户口"), vec!["出生登记"]);
        assert_eq!(
            expansions(&rules, "驾照到期"),
            vec!["机动车驾驶证", "驾驶证"]
        );
        assert_eq!(expansions(&rules, "Lost my ID Card"), vec!["身份证"]);
        assert!(expansions(&rules, "结婚").is_empty());
    }
}
