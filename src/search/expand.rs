//! Query expansion: colloquial words citizens use mapped to the official terms in documents,
//! from the editable `synonyms.txt` of the knowledge base.

use crate::kb::settings::SynonymRule;
use crate::text::normalise;

/// The official terms whose colloquial phrase occurs in `question`, in rule order, deduplicated.
pub fn expansions<'a>(rules: &'a [SynonymRule], question: &str) -> Vec<&'a str> {
    let q = normalise(question);
    let mut out: Vec<&str> = Vec::new();
    for r in rules {
        if occurs(&q, &r.phrase) {
            for o in &r.official {
                if !out.contains(&o.as_str()) && !q.contains(o.as_str()) {
                    out.push(o);
                }
            }
        }
    }
    out
}

/// Where `phrase` occurs in `text`, as byte ranges; a phrase starting or ending in a Latin
/// letter or digit only as whole words, plurals included ("rent" is not in "parents", "lost"
/// not in "almost", "ID cards" holds "ID card").
fn occurrences<'t>(text: &'t str, phrase: &'t str) -> impl Iterator<Item = (usize, usize)> + 't {
    let ascii_word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    text.match_indices(phrase).filter_map(move |(at, _)| {
        let mut end = at + phrase.len();
        if ascii_word(phrase.chars().next_back()) {
            let rest = &text[end..];
            if let Some(plural) = ["es", "s"].iter().find(|p| {
                rest.strip_prefix(**p)
                    .is_some_and(|r| !ascii_word(r.chars().next()))
            }) {
                end += plural.len();
            }
            if ascii_word(text[end..].chars().next()) {
                return None;
            }
        }
        let before = text[..at].chars().next_back();
        (!(ascii_word(phrase.chars().next()) && ascii_word(before))).then_some((at, end))
    })
}

fn occurs(text: &str, phrase: &str) -> bool {
    // Most rules' phrases share not even their first character with a question: checking it
    // is far cheaper than setting up a substring search for each of some 250 rules.
    phrase.chars().next().is_none_or(|c| text.contains(c))
        && occurrences(text, phrase).next().is_some()
}

/// The normalised question without the English phrases the rules translate: once "close
/// down" stands for 注销, its words are no longer part of what is asked.
pub fn untranslated(rules: &[SynonymRule], question: &str) -> String {
    let mut q = crate::text::normalise(question);
    for r in rules
        .iter()
        .filter(|r| r.phrase.starts_with(|c: char| c.is_ascii_alphanumeric()))
    {
        if !occurs(&q, &r.phrase) {
            continue;
        }
        let found: Vec<(usize, usize)> = occurrences(&q, &r.phrase).collect();
        for (at, end) in found.into_iter().rev() {
            q.replace_range(at..end, " ");
        }
    }
    q
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
        // English phrases match whole words only.
        let (rules, _) = parse_synonyms("rent => 租房\nID card => 身份证\n");
        assert!(expansions(&rules, "my parents' ID cards").contains(&"身份证"));
        assert!(!expansions(&rules, "my parents").contains(&"租房"));
        assert_eq!(expansions(&rules, "rent, deposit"), vec!["租房"]);
        assert_eq!(
            untranslated(&rules, "Rent for my ID cards 租房"),
            "  for my   租房"
        );
    }
}
