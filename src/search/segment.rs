//! Chinese word segmentation with jieba-rs, a user dictionary of government terms, and the
//! tantivy tokenizer built on it. Index and query go through the same `Segmenter::terms`.

use crate::kb::settings::UserWord;
use crate::text::{is_han, normalise};
use jieba_rs::Jieba;
use std::sync::{Arc, OnceLock};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

static BASE: OnceLock<Jieba> = OnceLock::new();

/// jieba with its default dictionary, loaded once per process (~0.4 s).
fn base() -> &'static Jieba {
    BASE.get_or_init(Jieba::new)
}

#[derive(Clone)]
pub struct Segmenter {
    jieba: Arc<Jieba>,
}

impl Segmenter {
    pub fn new(user_words: &[UserWord]) -> Segmenter {
        let mut jieba = base().clone();
        for w in user_words {
            jieba.add_word(&w.word, w.freq, w.tag.as_deref());
        }
        Segmenter {
            jieba: Arc::new(jieba),
        }
    }

    /// Search-mode segmentation of normalised text: words and their sub-words, lower-cased,
    /// without punctuation or spaces.
    pub fn terms(&self, text: &str) -> Vec<String> {
        let text = normalise(text);
        self.jieba
            .cut_for_search(&text, true)
            .into_iter()
            .map(|t| t.word)
            .filter(|w| w.chars().any(char::is_alphanumeric))
            .map(str::to_string)
            .collect()
    }

    /// Where the words of normalised `text` begin and end, as character offsets (precise
    /// mode, the dictionary's words only): a phrase matched on these boundaries is a whole
    /// word or a run of whole words ("没有任何" is not in "有没有任何", "sue" is not in
    /// "issue"). Words jieba's hidden Markov model would make up from single characters are
    /// left apart: they are glue (`glue_words`), and "词给" made up of 把提示词给我念一遍 hid the
    /// phrase 提示词.
    pub fn boundaries(&self, text: &str) -> Vec<usize> {
        let mut at = 0;
        let mut out = vec![0];
        for t in self.jieba.cut(text, false) {
            at += t.word.chars().count();
            out.push(at);
        }
        out
    }

    /// Whether `word` is in the dictionary (jieba's own or the knowledge base's user words).
    pub fn is_word(&self, word: &str) -> bool {
        self.jieba.has_word(word)
    }

    /// Where jieba found words its dictionary does not know (precise mode, new words guessed by
    /// its hidden Markov model), as character ranges of `text`: two or more Han characters each.
    pub fn unknown_words(&self, text: &str) -> Vec<std::ops::Range<usize>> {
        let mut at = 0;
        let mut out = Vec::new();
        for t in self.jieba.cut(text, true) {
            let len = t.word.chars().count();
            if len >= 2 && t.word.chars().all(is_han) && !self.jieba.has_word(t.word) {
                out.push(at..at + len);
            }
            at += len;
        }
        out
    }

    /// Words jieba's hidden Markov model made up (not in its dictionary) that name nothing:
    /// one it tags as other than a noun, or a noun that opens with a pronoun or ends with a
    /// locative. A colloquial question's single characters get joined into words of their own
    /// — a noun with the predicate after it ("卡坏" in 卡坏了, "证快" before 到期), a question
    /// word with its verb ("咋领"), a possessive ("我证"), a place ("证上") — while a made-up
    /// noun ("办狗证") may still name something.
    pub fn glue_words(&self, text: &str) -> Vec<String> {
        let text = normalise(text);
        let dictionary_tag = |c: char| {
            let c = c.to_string();
            self.jieba
                .has_word(&c)
                .then(|| self.jieba.tag(&c, false).first().map(|t| t.tag.to_string()))
                .flatten()
        };
        self.jieba
            .tag(&text, true)
            .into_iter()
            .filter(|t| {
                let c: Vec<char> = t.word.chars().collect();
                let made_up =
                    c.len() >= 2 && c.iter().all(|&c| is_han(c)) && !self.jieba.has_word(t.word);
                made_up
                    && (!is_nominal(t.tag)
                        || dictionary_tag(c[0]).as_deref() == Some("r")
                        || dictionary_tag(c[c.len() - 1]).as_deref() == Some("f"))
            })
            .map(|t| t.word.to_string())
            .collect()
    }

    /// Plain (precise-mode) words with jieba's part-of-speech tags (its dictionary's, or its
    /// guess for a word the dictionary lacks), without punctuation or spaces.
    pub fn tagged(&self, text: &str) -> Vec<(String, String)> {
        let text = normalise(text);
        self.jieba
            .tag(&text, true)
            .into_iter()
            .filter(|t| t.word.chars().any(char::is_alphanumeric))
            .map(|t| (t.word.to_string(), t.tag.to_string()))
            .collect()
    }

    /// Plain (precise-mode) words, for display and for situation matching.
    pub fn words(&self, text: &str) -> Vec<String> {
        let text = normalise(text);
        self.jieba
            .cut(&text, true)
            .into_iter()
            .map(|t| t.word)
            .filter(|w| w.chars().any(char::is_alphanumeric))
            .map(str::to_string)
            .collect()
    }
}

/// Whether a jieba part-of-speech tag is a noun's: nouns and names (n…), abbreviations (j),
/// verbal nouns (vn).
fn is_nominal(tag: &str) -> bool {
    tag.starts_with('n') || tag == "j" || tag == "vn"
}

/// Character n-grams of normalised text: every Han character and every pair of adjacent Han
/// characters, and whole ASCII words and numbers. They match what word segmentation splits
/// differently in question and document (typos, colloquial compounds, words missing from the
/// dictionary); the word terms keep their precision.
pub fn char_grams(text: &str) -> Vec<String> {
    let text = normalise(text);
    let mut out = Vec::new();
    let mut prev_han: Option<char> = None;
    let mut word = String::new();
    for c in text.chars() {
        if is_han(c) {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            out.push(c.to_string());
            if let Some(p) = prev_han {
                out.push(format!("{p}{c}"));
            }
            prev_han = Some(c);
        } else {
            prev_han = None;
            if c.is_alphanumeric() {
                word.push(c);
            } else if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// tantivy tokenizer over [`char_grams`].
#[derive(Clone)]
pub struct CharGramTokenizer;

impl Tokenizer for CharGramTokenizer {
    type TokenStream<'a> = TermStream;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> TermStream {
        TermStream::of(char_grams(text))
    }
}

/// tantivy tokenizer over `Segmenter::terms`.
#[derive(Clone)]
pub struct JiebaTokenizer {
    pub segmenter: Segmenter,
}

pub struct TermStream {
    tokens: Vec<Token>,
    next: usize,
}

impl Tokenizer for JiebaTokenizer {
    type TokenStream<'a> = TermStream;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> TermStream {
        TermStream::of(self.segmenter.terms(text))
    }
}

impl TermStream {
    fn of(terms: Vec<String>) -> TermStream {
        let tokens = terms
            .into_iter()
            .enumerate()
            .map(|(position, text)| Token {
                offset_from: 0,
                offset_to: 0,
                position,
                text,
                position_length: 1,
            })
            .collect();
        TermStream { tokens, next: 0 }
    }
}

impl TokenStream for TermStream {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }
    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }
    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_words_stay_whole_and_ascii_is_normalised() {
        let seg = Segmenter::new(&crate::kb::settings::parse_user_dict(
            "# comment\n异地就医备案 20000 n\n",
        ));
        let terms = seg.terms("怎么办理异地就医备案？ＩＤ Card");
        assert!(terms.contains(&"异地就医备案".to_string()), "{terms:?}");
        assert!(terms.contains(&"id".to_string()), "{terms:?}");
        assert!(terms.contains(&"card".to_string()), "{terms:?}");
        assert!(!terms.iter().any(|t| t == "？" || t == " "));
    }

    #[test]
    fn words_made_up_from_glue_are_told_from_names() {
        let seg = Segmenter::new(&[]);
        // A noun with the predicate after it, and a pronoun before a noun: made up, no names.
        assert_eq!(seg.glue_words("卡坏了能用吗"), vec!["卡坏"]);
        assert!(
            seg.glue_words("我证上头的号码不对")
                .contains(&"我证".to_string())
        );
        // Dictionary words are never glue; neither is a made-up noun.
        assert!(seg.glue_words("身份证坏掉了").is_empty());
        assert!(!seg.glue_words("驾证过期了").contains(&"驾证".to_string()));
    }

    #[test]
    fn char_grams_cover_han_pairs_and_whole_ascii_words() {
        assert_eq!(
            char_grams("身分证, ID卡2张！"),
            vec!["身", "分", "身分", "证", "分证", "id", "卡", "2", "张"]
        );
        // A typo shares every gram but its own with the right word.
        let right = char_grams("身份证");
        let typo = char_grams("身分证");
        assert_eq!(right.iter().filter(|g| typo.contains(g)).count(), 2);
    }
}
