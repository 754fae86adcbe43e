//! Sound-alike corrections. Most citizens type Chinese by pinyin and pick the wrong one of two
//! characters that sound alike (驾使证 for 驾驶证, 低报 for 低保, 社宝 for 社保). A run of the
//! question that is no word at all, but differs from a name of a document (a term of its title,
//! aliases or FAQ phrasings) in one character of the same sound, is read as that name.
//!
//! Sounds are compared loosely, as the pinyin habits of many regions do: without tones, with
//! zh/ch/sh like z/c/s, l like n, and -ng finals like -n.

use pinyin::ToPinyinMulti;
use std::collections::{HashMap, HashSet};

use super::segment::Segmenter;
use crate::text::is_han;

/// Characters that carry grammar, ask, or name the everyday acts of an errand rather than its
/// subject: a slip rarely replaces them, while a correction through them would turn 不办 into
/// 补办 or 网上办 into 网上班.
const FUNCTION_CHARS: &str = "不没的了是在有我你他她它这那就都也要会能可吗呢吧啊么和与或还再很太又哪怎什啥谁几多办换交领补查去来做拿";

/// The names a question may have misspelt, indexed by every way of leaving one character out.
pub struct SoundAlikes {
    /// Key: the name with one character replaced by a hole; value: the names and the hole's place.
    by_hole: HashMap<String, Vec<(Vec<char>, usize)>>,
}

/// Longest and shortest runs of Han characters considered.
const LONGEST: usize = 4;
const SHORTEST: usize = 2;

impl SoundAlikes {
    pub fn new<'a>(names: impl IntoIterator<Item = &'a String>) -> SoundAlikes {
        let mut by_hole: HashMap<String, Vec<(Vec<char>, usize)>> = HashMap::new();
        let mut seen = HashSet::new();
        for name in names {
            let chars: Vec<char> = name.chars().collect();
            if !(SHORTEST..=LONGEST).contains(&chars.len())
                || !chars.iter().all(|&c| is_han(c))
                || !seen.insert(name.as_str())
            {
                continue;
            }
            for hole in 0..chars.len() {
                by_hole
                    .entry(with_hole(&chars, hole))
                    .or_default()
                    .push((chars.clone(), hole));
            }
        }
        SoundAlikes { by_hole }
    }

    /// `text` with each misspelt name replaced by the name it sounds like, and the
    /// replacements made (typed, read as). Only a word the dictionary does not know is read
    /// as another (a run across two known words, 在哪办, is left alone), only when the
    /// character read otherwise makes a pair with its neighbour that the documents never
    /// print (`printed` answers for a pair of characters: 来津 is a real word where the
    /// documents are about Tianjin), and only when one name fits.
    pub fn correct(
        &self,
        text: &str,
        segmenter: &Segmenter,
        printed: impl Fn(&str) -> bool,
    ) -> (String, Vec<(String, String)>) {
        let unknown = segmenter.unknown_words(text);
        if unknown.is_empty() {
            return (text.to_string(), Vec::new());
        }
        let chars: Vec<char> = text.chars().collect();
        let mut out = String::with_capacity(text.len());
        let mut made = Vec::new();
        let mut i = 0;
        'outer: while i < chars.len() {
            for len in (SHORTEST..=LONGEST).rev() {
                let Some(run) = chars.get(i..i + len) else {
                    continue;
                };
                if !run.iter().all(|&c| is_han(c)) {
                    continue;
                }
                let Some(word) = unknown.iter().find(|w| i <= w.start && w.end <= i + len) else {
                    continue;
                };
                let typed: String = run.iter().collect();
                if segmenter.is_word(&typed) {
                    continue;
                }
                let unprinted = (word.start - i..word.end - i)
                    .filter(|&h| {
                        let pair = |a: usize, b: usize| -> bool {
                            run.get(a..=b)
                                .is_some_and(|p| !printed(&p.iter().collect::<String>()))
                        };
                        (h > 0 && pair(h - 1, h)) || pair(h, h + 1)
                    })
                    .collect::<Vec<usize>>();
                if let Some(name) = self.sounds_like(run, &unprinted) {
                    let name: String = name.iter().collect();
                    out.push_str(&name);
                    made.push((typed, name));
                    i += len;
                    continue 'outer;
                }
            }
            out.push(chars[i]);
            i += 1;
        }
        (out, made)
    }

    /// The one name that differs from `run` in exactly one character of the same sound, at
    /// one of the places `holes`.
    fn sounds_like(&self, run: &[char], holes: &[usize]) -> Option<&[char]> {
        let mut found: Option<&[char]> = None;
        for &hole in holes {
            let typed = run[hole];
            if FUNCTION_CHARS.contains(typed) {
                continue;
            }
            for (name, at) in self
                .by_hole
                .get(&with_hole(run, hole))
                .into_iter()
                .flatten()
            {
                if *at != hole
                    || name[hole] == typed
                    || FUNCTION_CHARS.contains(name[hole])
                    || !same_sound(name[hole], typed)
                {
                    continue;
                }
                match found {
                    Some(f) if f != name.as_slice() => return None,
                    _ => found = Some(name),
                }
            }
        }
        found
    }
}

fn with_hole(chars: &[char], hole: usize) -> String {
    chars
        .iter()
        .enumerate()
        .map(|(i, &c)| if i == hole { '□' } else { c })
        .collect()
}

/// Whether two characters share a reading, compared loosely.
fn same_sound(a: char, b: char) -> bool {
    let a = loose_readings(a);
    !a.is_empty() && loose_readings(b).iter().any(|r| a.contains(r))
}

fn loose_readings(c: char) -> Vec<String> {
    c.to_pinyin_multi()
        .map(|m| m.into_iter().map(|p| loosen(p.plain())).collect())
        .unwrap_or_default()
}

fn loosen(syllable: &str) -> String {
    let s = syllable
        .strip_prefix("zh")
        .map(|r| format!("z{r}"))
        .or_else(|| syllable.strip_prefix("ch").map(|r| format!("c{r}")))
        .or_else(|| syllable.strip_prefix("sh").map(|r| format!("s{r}")))
        .or_else(|| syllable.strip_prefix('l').map(|r| format!("n{r}")))
        .unwrap_or_else(|| syllable.to_string());
    match s.strip_suffix("ng") {
        Some(r) => format!("{r}n"),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Documents that print no pair of characters at all.
    fn none(_: &str) -> bool {
        false
    }

    fn names(words: &[&str]) -> SoundAlikes {
        let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        SoundAlikes::new(&words)
    }

    #[test]
    fn a_misspelt_name_is_read_as_the_name_that_sounds_alike() {
        let seg = Segmenter::new(&[]);
        let n = names(&["驾驶证", "最低生活保障", "低保", "护照", "营业执照"]);
        assert_eq!(
            n.correct("驾使证能不能网上续期", &seg, none).0,
            "驾驶证能不能网上续期"
        );
        assert_eq!(
            n.correct("申请低报的条件", &seg, none).1,
            vec![("低报".to_string(), "低保".to_string())]
        );
        // 造 (zao) and 照 (zhao) sound alike once zh is read like z.
        assert_eq!(n.correct("营业执造丢了", &seg, none).0, "营业执照丢了");
    }

    #[test]
    fn words_function_characters_and_other_sounds_are_left_alone() {
        let seg = Segmenter::new(&[]);
        let n = names(&["补办", "公证", "居住证"]);
        // 不办 sounds like 补办, but 不 carries grammar.
        assert!(n.correct("身份证不办了可以吗", &seg, none).1.is_empty());
        // 公正 is a word of its own.
        assert!(n.correct("这样公正吗", &seg, none).1.is_empty());
        // 往 (wang) does not sound like 住 (zhu): a slip of the eye, not of the ear.
        assert!(n.correct("居往证", &seg, none).1.is_empty());
    }

    #[test]
    fn a_word_the_documents_print_is_not_a_slip() {
        let seg = Segmenter::new(&[]);
        let n = names(&["来京"]);
        assert!(n.correct("来津旅游的优惠", &seg, none).1.len() == 1);
        assert!(
            n.correct("来津旅游的优惠", &seg, |p| p == "来津")
                .1
                .is_empty()
        );
    }

    #[test]
    fn a_run_that_could_be_two_names_is_not_guessed() {
        let seg = Segmenter::new(&[]);
        let n = names(&["社保", "社报"]);
        assert!(n.correct("社宝怎么交", &seg, none).1.is_empty());
        assert_eq!(loosen("zhang"), "zan");
        assert_eq!(loosen("lü"), "nü");
    }
}
