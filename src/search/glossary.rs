//! English questions over a Chinese knowledge base: the glossary (`glossary.txt`) gives the
//! Chinese terms the guides print for English words and phrases. A rule's words are matched by
//! their Snowball stems, so one line serves every form a citizen types ("renew" covers
//! renewing, renewed, renews; "certificate" certificates).

use crate::kb::settings::SynonymRule;
use crate::text::normalise;
use rust_stemmers::{Algorithm, Stemmer};
use std::collections::HashMap;

pub struct Glossary {
    stemmer: Stemmer,
    /// First stem of a rule → the rules starting with it, longest first.
    rules: HashMap<String, Vec<Rule>>,
}

/// One line of the glossary: the stems of its English words and its Chinese terms.
struct Rule {
    stems: Vec<String>,
    terms: Vec<String>,
}

impl std::fmt::Debug for Glossary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Glossary")
            .field("rules", &self.rules.values().map(Vec::len).sum::<usize>())
            .finish()
    }
}

/// What the glossary made of a question.
#[derive(Debug, Default, PartialEq)]
pub struct Glossed {
    /// Per English word or phrase translated, in question order: its Chinese terms.
    pub units: Vec<Vec<String>>,
    /// The normalised question with the words the glossary translated blanked out.
    pub rest: String,
}

impl Glossary {
    /// Compiles the glossary's rules; a rule whose left side has no Latin word is left out
    /// (Chinese colloquial words belong in `synonyms.txt`).
    pub fn new(rules: &[SynonymRule]) -> Glossary {
        let stemmer = Stemmer::create(Algorithm::English);
        let mut by_first: HashMap<String, Vec<Rule>> = HashMap::new();
        for r in rules {
            let stems: Vec<String> = words(&r.phrase)
                .map(|(_, _, w)| stemmer.stem(w).into_owned())
                .collect();
            if let Some(first) = stems.first() {
                by_first.entry(first.clone()).or_default().push(Rule {
                    stems,
                    terms: r.official.clone(),
                });
            }
        }
        for rules in by_first.values_mut() {
            // Longest first; among equals, file order (the sort is stable).
            rules.sort_by_key(|r| std::cmp::Reverse(r.stems.len()));
        }
        Glossary {
            stemmer,
            rules: by_first,
        }
    }

    /// The Chinese terms for each of the question's English words or phrases the glossary
    /// holds, the longest rule winning where rules overlap ("identity card" before "card"),
    /// and the question without those words.
    pub fn translate(&self, question: &str) -> Glossed {
        let mut rest = normalise(question);
        let found: Vec<(usize, usize, String)> = words(&rest)
            .map(|(at, end, w)| (at, end, self.stemmer.stem(w).into_owned()))
            .collect();
        let mut out = Glossed::default();
        let mut blank: Vec<(usize, usize)> = Vec::new();
        let mut i = 0;
        while i < found.len() {
            let rule = self.rules.get(&found[i].2).and_then(|rules| {
                rules.iter().find(|r| {
                    found.len() - i >= r.stems.len()
                        && r.stems.iter().zip(&found[i..]).all(|(s, w)| *s == w.2)
                })
            });
            let Some(rule) = rule else {
                i += 1;
                continue;
            };
            out.units.push(rule.terms.clone());
            let words = rule.stems.len();
            blank.push((found[i].0, found[i + words - 1].1));
            i += words;
        }
        for (at, end) in blank.into_iter().rev() {
            rest.replace_range(at..end, " ");
        }
        out.rest = rest;
        out
    }
}

/// The Latin words of normalised text with their byte ranges: runs of ASCII letters (digits
/// and apostrophes end a word: "what's" is "what" and "s").
fn words(text: &str) -> impl Iterator<Item = (usize, usize, &str)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        match (c.is_ascii_alphabetic(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i, &text[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    out.into_iter()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kb::settings::parse_synonyms;

    fn glossary(text: &str) -> Glossary {
        let (rules, bad) = parse_synonyms(text);
        assert!(bad.is_empty());
        Glossary::new(&rules)
    }

    #[test]
    fn words_match_in_any_form_and_the_longest_rule_wins() {
        let g = glossary(
            "renew => 换领\ncard => 卡\nidentity card => 居民身份证\ncertificate => 证明\n",
        );
        let out = g.translate("Renewing my Identity Cards, and the certificates?");
        assert_eq!(out.units, [["换领"], ["居民身份证"], ["证明"]]);
        assert_eq!(out.rest, "  my  , and the  ?");
        assert_eq!(g.translate("bank card renewed").units, [["卡"], ["换领"]]);
        // A stem is a whole word: "cardigan" and "renewable" are other words.
        assert!(g.translate("my cardigan").units.is_empty());
    }

    #[test]
    fn chinese_text_and_unknown_words_stay() {
        let g = glossary("passport => 普通护照\n");
        let out = g.translate("办passport要多久 weather");
        assert_eq!(out.units, [["普通护照"]]);
        assert_eq!(out.rest, "办 要多久 weather");
    }
}
