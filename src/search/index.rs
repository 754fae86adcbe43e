//! The tantivy index of passages and its catalog, built into a fresh generation folder and
//! switched to atomically: `DATA/index/CURRENT` names the generation in use.

use super::glossary::{Glossary, Glossed};
use super::passage::{Passage, split};
use super::segment::{CharGramTokenizer, JiebaTokenizer, Segmenter, char_grams};
use super::sound::SoundAlikes;
use crate::kb::{self, DocId, Document, settings::Settings};
use anyhow::{Context, Result};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::TermInfo;
use tantivy::query::{Bm25StatisticsProvider, Bm25Weight};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{Index, ReloadPolicy, Searcher, SegmentReader, TantivyDocument, Term};

const TOKENIZER: &str = "jieba";
const CHAR_TOKENIZER: &str = "chargram";
const CATALOG: &str = "catalog.json";
const CURRENT: &str = "CURRENT";
/// Field boosts: a word in an alias (the names citizens use) says more than one in the body.
/// The title has no word field of its own: a policy's long heading shares its place and topic
/// words with dozens of others and is printed at the top of its text anyway, a service's title
/// is mostly in its aliases, and an imported answer's title is often one generic label; it
/// counts through the document's opening instead ([`LEAD_BOOST`]). Measured on the
/// development data sets (scripts/eval_dev.sh): a title boost of 3, with the title's character
/// grams, cost 20 points of hit@1 on the NCPPolicies documents; 0.5 still cost one.
const BOOSTS: [(&str, f32); 3] = [("aliases", 2.5), ("section", 1.2), ("body", 1.0)];

/// How much a character gram counts in a document's opening (its title and first sentence,
/// [`opening`]) on top of counting in the passage text: an answer restates what it answers
/// in its first sentence and a policy opens with its subject, while a passing mention deep in
/// a text says less. Chosen on the development data (MSGABench hit@1 0.601 → 0.621 with the
/// title's word field dropped; NCPPolicies unchanged at 0.793); the same for every knowledge base.
const LEAD_BOOST: f32 = 0.2;
/// At most this many characters of the first sentence make the opening.
const LEAD_CHARS: usize = 80;

/// A document's opening: its title and the first sentence of its first passage (to the first
/// sentence end or line break, at most [`LEAD_CHARS`] characters; a text that begins with its
/// title is read after it).
fn opening(title: &str, first: &str) -> String {
    let text = first.trim_start();
    let text = text.strip_prefix(title).unwrap_or(text).trim_start();
    let end = text
        .char_indices()
        .find(|&(_, c)| matches!(c, '。' | '！' | '？' | '；' | '\n'))
        .map_or(text.len(), |(at, c)| at + c.len_utf8());
    let sentence: String = text[..end].chars().take(LEAD_CHARS).collect();
    format!("{title} {sentence}")
}
/// How much each kind of evidence counts in a passage's score: the question's own words, the
/// official terms its colloquial phrases expand to, and its character n-grams. Measured with
/// `xiaoban eval` on development data (README: 检索评测); the same for every knowledge base.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    pub words: f32,
    pub synonyms: f32,
    pub chars: f32,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            words: 1.0,
            synonyms: 0.5,
            chars: 1.0,
        }
    }
}

/// Characters that carry no topic alone: a question's character grams made only of these are
/// left out of the query (they match everywhere and slow every search). Besides particles and
/// pronouns, the characters of the way citizens ask (请问, 咨询, 麻烦, 是否, 关于, 哪里, 为何):
/// answers rarely print them, so BM25 would weigh them as rare and telling.
const STOP_CHARS: &str = "的了吗呢啊吧呀嘛哦我你您他她它们是在要想怎么样如何什么哪些可以能需请问一下有和与或就都还也去到把被给这那个咋啥该得会用对从跟为不没咨询谢麻烦否关于些哪里儿何";

/// Words that carry no topic in a citizen's question: particles, pronouns, and the words of
/// asking and politeness (您好, 咨询, 想问, 了解, 是否, 关于…), which are rare in answers and
/// would otherwise count as telling evidence.
const STOPWORDS: &[&str] = &[
    "您好",
    "你好",
    "咨询",
    "想问",
    "问问",
    "问一下",
    "请教",
    "了解",
    "知道",
    "谢谢",
    "麻烦",
    "是否",
    "关于",
    "有关",
    "一些",
    "这些",
    "那些",
    "哪个",
    "哪里",
    "为什么",
    "的",
    "了",
    "吗",
    "呢",
    "啊",
    "吧",
    "呀",
    "嘛",
    "哦",
    "我",
    "你",
    "您",
    "他",
    "她",
    "我们",
    "是",
    "在",
    "要",
    "想",
    "怎么",
    "怎么办",
    "怎样",
    "如何",
    "什么",
    "哪些",
    "可以",
    "能",
    "能不能",
    "需要",
    "请问",
    "一下",
    "请",
    "有",
    "和",
    "与",
    "或",
    "就",
    "都",
    "还",
    "也",
    "去",
    "到",
    "把",
    "被",
    "给",
    "这个",
    "那个",
    "这",
    "那",
    "个",
    "么",
    "咋",
    "啥",
    "该",
    "应该",
    "现在",
    "然后",
    "已经",
    "自己",
    "得",
    "多少",
    "吗",
    "没有",
    "不",
    "办",
    "办理",
    "一个",
    "有没有",
    "怎么样",
    "弄",
    "搞",
    "做",
    "会",
    "用",
    "对",
    "从",
    "跟",
    "为",
    // English: the words of asking, not of the errand.
    "a",
    "an",
    "the",
    "i",
    "me",
    "my",
    "you",
    "your",
    "we",
    "our",
    "it",
    "is",
    "are",
    "am",
    "be",
    "do",
    "does",
    "did",
    "can",
    "could",
    "will",
    "would",
    "should",
    "how",
    "what",
    "where",
    "when",
    "which",
    "to",
    "for",
    "of",
    "in",
    "on",
    "at",
    "with",
    "and",
    "or",
    "if",
    "get",
    "need",
    "want",
    "please",
    "there",
    "this",
    "that",
    "have",
    "has",
    "any",
    "about",
    "after",
    "before",
    "from",
    "by",
    "as",
    "so",
    "but",
    "not",
    "no",
    "they",
    "them",
    "their",
    "he",
    "she",
    "his",
    "her",
    "its",
    "us",
    "was",
    "were",
    "been",
    "had",
    "some",
    "just",
    "also",
    "still",
    "now",
    "then",
    "than",
    "very",
    "much",
    "many",
    "more",
    "most",
    "who",
    "why",
    "into",
    "out",
    "up",
    "may",
    "might",
    "must",
    "tell",
    "know",
    "help",
    "hi",
    "hello",
    "thanks",
    "thank",
    "these",
    "those",
    "s",
    "t",
    "m",
    "ll",
    "d",
    "re",
    "ve",
    "go",
    "take",
    "long",
    "able",
    "possible",
    "way",
    "ok",
];

/// Everything the answer pipeline needs besides the tantivy index itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Catalog {
    pub built_at: String,
    pub documents: Vec<Document>,
    pub passages: Vec<Passage>,
    pub settings: Settings,
}

/// What a build did, for the administrator.
#[derive(Debug, Default, Serialize)]
pub struct BuildReport {
    pub generation: String,
    pub files: usize,
    pub documents: usize,
    pub documents_not_in_force: Vec<String>,
    pub passages: usize,
    pub warnings: Vec<String>,
    pub errors: Vec<String>,
    pub seconds: f64,
}

struct Fields {
    passage: Field,
    aliases: Field,
    section: Field,
    body: Field,
    text_chars: Field,
    lead_chars: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let chars = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(CHAR_TOKENIZER)
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let fields = Fields {
        passage: b.add_u64_field("passage", FAST | STORED | INDEXED),
        aliases: b.add_text_field("aliases", text.clone()),
        section: b.add_text_field("section", text.clone()),
        body: b.add_text_field("body", text),
        text_chars: b.add_text_field("text_chars", chars.clone()),
        lead_chars: b.add_text_field("lead_chars", chars),
    };
    (b.build(), fields)
}

fn fields_of(schema: &Schema) -> Result<Fields> {
    Ok(Fields {
        passage: schema.get_field("passage")?,
        aliases: schema.get_field("aliases")?,
        section: schema.get_field("section")?,
        body: schema.get_field("body")?,
        text_chars: schema.get_field("text_chars")?,
        lead_chars: schema.get_field("lead_chars")?,
    })
}

fn register_tokenizers(index: &Index, segmenter: &Segmenter) {
    index.tokenizers().register(
        TOKENIZER,
        JiebaTokenizer {
            segmenter: segmenter.clone(),
        },
    );
    index
        .tokenizers()
        .register(CHAR_TOKENIZER, CharGramTokenizer);
}

/// Builds a new generation from `kb` under `data/index/` and makes it current.
/// Malformed documents are reported in `errors` and left out; the rest are indexed.
pub fn build(kb_dir: &Path, data_dir: &Path) -> Result<BuildReport> {
    let started = std::time::Instant::now();
    let corpus = kb::load(kb_dir)?;
    let (settings, warnings) = kb::settings::load(kb_dir);
    let mut report = BuildReport {
        files: corpus.files_read,
        warnings,
        errors: corpus.problems.iter().map(|p| p.to_string()).collect(),
        ..Default::default()
    };
    let today = chrono::Local::now().date_naive();
    for d in &corpus.documents {
        if !d.meta.in_force_on(today) {
            report.documents_not_in_force.push(d.meta.id.to_string());
        }
        if d.meta.aliases.is_empty() && d.meta.kind != kb::DocKind::Faq {
            report.warnings.push(format!(
                "{}: 没有口语别名 aliases，口语提问可能检索不到",
                d.meta.id
            ));
        }
    }
    let root = data_dir.join("index");
    std::fs::create_dir_all(&root).with_context(|| format!("创建 {}", root.display()))?;
    let generation = format!(
        "gen-{}-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.6f"),
        std::process::id()
    );
    remove_abandoned_builds(data_dir);
    // Held while the temporary folder is written: a build killed or failed leaves it
    // unlocked, which is how a later build or start-up knows the folder is abandoned.
    let lock_path = root.join(format!("tmp-{generation}.lock"));
    let lock = std::fs::File::create(&lock_path)
        .with_context(|| format!("创建 {}", lock_path.display()))?;
    lock.lock()
        .with_context(|| format!("锁定 {}", lock_path.display()))?;
    let tmp = root.join(format!("tmp-{generation}"));
    std::fs::create_dir_all(&tmp)?;

    let (schema, f) = schema();
    let index = Index::create_in_dir(&tmp, schema)?;
    let segmenter = Segmenter::new(&settings.user_words);
    register_tokenizers(&index, &segmenter);
    let mut writer = index.writer_with_num_threads::<TantivyDocument>(1, 50_000_000)?;
    let mut passages = Vec::new();
    for (pos, d) in corpus.documents.iter().enumerate() {
        let first = passages.len() as u32;
        let ps = split(d, pos as u32, first);
        // A superseded document keeps its page but is never searchable.
        if d.meta.superseded_by.is_none() {
            let doc_aliases = d.meta.aliases.join(" ") + " " + &d.meta.tags.join(" ");
            let lead = opening(&d.meta.title, ps.first().map_or("", |p| p.text.as_str()));
            for p in &ps {
                let mut doc = TantivyDocument::default();
                doc.add_u64(f.passage, p.id as u64);
                let names = format!("{doc_aliases} {}", p.keywords.join(" "));
                doc.add_text(f.aliases, &names);
                // The passage's own text only: an FAQ entry's question (its section) would
                // otherwise outweigh the guide it summarises on every colloquial question. A
                // policy's numbered heading is printed text and searched as such.
                let text = if p.heading_in_text {
                    format!("{}\n{}", p.section, p.text)
                } else {
                    doc.add_text(f.section, &p.section);
                    p.text.clone()
                };
                doc.add_text(f.body, &text);
                doc.add_text(f.text_chars, &text);
                if p.id == first {
                    doc.add_text(f.lead_chars, &lead);
                }
                writer.add_document(doc)?;
            }
        }
        passages.extend(ps);
    }
    writer.commit()?;
    writer.wait_merging_threads()?;
    report.documents = corpus.documents.len();
    report.passages = passages.len();
    let catalog = Catalog {
        built_at: chrono::Local::now().to_rfc3339(),
        documents: corpus.documents,
        passages,
        settings,
    };
    std::fs::write(tmp.join(CATALOG), serde_json::to_vec(&catalog)?)?;
    let gen_dir = root.join(&generation);
    std::fs::rename(&tmp, &gen_dir)?;
    let _ = std::fs::remove_file(&lock_path);
    drop(lock);
    // Switch atomically: write the name beside CURRENT, then rename over it.
    let next = root.join(format!("{CURRENT}.{generation}"));
    std::fs::write(&next, &generation)?;
    std::fs::rename(&next, root.join(CURRENT))?;
    remove_old_generations(&root, &generation);
    report.generation = generation;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// A temporary build folder without a lock file (written before builds took one) is taken
/// for abandoned only when it has not changed for this long.
const UNLOCKED_BUILD_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes the temporary folders (`index/tmp-gen-…`) of builds that died or failed: a build
/// holds an exclusive lock on `tmp-gen-….lock` while it writes its folder, so a folder
/// whose lock can be taken is abandoned, and one whose lock is held belongs to a build still
/// running — in this process, another, or on another node sharing the folder (on NFS the
/// lock is an NFS lock). Returns how many were removed.
pub fn remove_abandoned_builds(data_dir: &Path) -> usize {
    let root = data_dir.join("index");
    let Ok(entries) = std::fs::read_dir(&root) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !name.starts_with("tmp-gen-") {
            continue;
        }
        if let Some(folder) = name.strip_suffix(".lock") {
            // A lock whose build died before its folder was made.
            if !root.join(folder).exists()
                && let Ok(lock) = std::fs::OpenOptions::new().write(true).open(entry.path())
                && lock.try_lock().is_ok()
            {
                let _ = std::fs::remove_file(entry.path());
            }
            continue;
        }
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let lock_path = root.join(format!("{name}.lock"));
        // The lock, taken (so no live build holds it), or `None` for a folder from before
        // builds took one that has not changed for long; `Err` for a folder to leave alone.
        let lock = match std::fs::OpenOptions::new().write(true).open(&lock_path) {
            Ok(lock) if lock.try_lock().is_ok() => Ok(Some(lock)),
            Ok(_) => Err(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let age = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok());
                if age.is_some_and(|a| a > UNLOCKED_BUILD_AGE) {
                    Ok(None)
                } else {
                    Err(())
                }
            }
            Err(_) => Err(()),
        };
        let Ok(lock) = lock else {
            continue;
        };
        if std::fs::remove_dir_all(entry.path()).is_ok() {
            if lock.is_some() {
                let _ = std::fs::remove_file(&lock_path);
            }
            tracing::info!(folder = %name, "removed the folder of an index build that did not finish");
            removed += 1;
        }
    }
    removed
}

/// How long a replaced generation stays on disk. Servers sharing the index folder (the same
/// data folder, or NFS) move to the new one within their 2 s refresh, and a request holds its
/// generation for its own length; on NFS a folder deleted under another host's open files
/// breaks its reads, so removal waits well past both.
const KEEP_REPLACED: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

/// Removes generations replaced more than [`KEEP_REPLACED`] ago, always keeping the current
/// one and the one before it.
fn remove_old_generations(root: &Path, current: &str) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    let mut gens: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("gen-"))
        .collect();
    gens.sort();
    let now = chrono::Utc::now();
    for doomed in removable_generations(&gens, current, now) {
        let _ = std::fs::remove_dir_all(root.join(doomed));
    }
}

/// Of `gens` (sorted, oldest first), those to remove: replaced (a newer one exists) longer
/// than [`KEEP_REPLACED`] before `now`, older than current and not the one just before it.
fn removable_generations<'a>(
    gens: &'a [String],
    current: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<&'a str> {
    let previous = gens.iter().rfind(|g| g.as_str() < current);
    gens.windows(2)
        .filter(|w| w[0].as_str() < current && Some(&w[0]) != previous)
        // A generation was replaced when the next one was built; an unreadable name counts as
        // long ago.
        .filter(|w| generation_time(&w[1]).is_none_or(|t| now - t > KEEP_REPLACED))
        .map(|w| w[0].as_str())
        .collect()
}

/// When a generation was built, from its name `gen-%Y%m%dT%H%M%S%.6f-PID`.
fn generation_time(name: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let stamp = name.strip_prefix("gen-")?.rsplit_once('-')?.0;
    chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

/// The generation `DATA/index/CURRENT` names, if any.
pub fn current_generation(data_dir: &Path) -> Option<String> {
    std::fs::read_to_string(data_dir.join("index").join(CURRENT))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// A passage found for a question, with its BM25 score.
#[derive(Debug, Clone, Copy)]
pub struct ScoredPassage {
    pub passage: u32,
    pub score: f32,
}

/// A document found for a question: the best score of its passages.
#[derive(Debug, Clone, Copy)]
pub struct ScoredDoc {
    pub doc: u32,
    pub score: f32,
    pub best_passage: u32,
}

#[derive(Debug, Clone, Default)]
pub struct Retrieval {
    /// Query terms after segmentation and stop-word removal.
    pub terms: Vec<String>,
    /// How many of `terms`, from the first, the question says itself; the rest come from
    /// its expansions.
    pub typed: usize,
    /// Official terms added by the synonym rules and the glossary.
    pub expanded: Vec<String>,
    /// Terms jieba made up from colloquial glue (`Segmenter::glue_words`): they name nothing.
    pub glue: Vec<String>,
    pub passages: Vec<ScoredPassage>,
    pub docs: Vec<ScoredDoc>,
}

/// How much a term found in `df` of `docs` passages should count, relative to the weight
/// tantivy's BM25 gives it (`ln(1 + (N - df + 0.5) / (df + 0.5))`, positive for any term):
/// Robertson's IDF `ln((N - df + 0.5) / (df + 0.5))`, which falls to nothing for a term in half
/// the passages or more, floored at `floor`. A word or character found everywhere (疫情 across
/// an epidemic corpus, 办 across a service one) then says next to nothing about which passage
/// is meant.
const COMMON_TERM_FLOOR: f32 = 0.25;

fn common_term_weight(df: f32, docs: f32) -> f32 {
    if df <= 0.0 || docs <= 0.0 {
        return 1.0;
    }
    let tantivy = (1.0 + (docs - df + 0.5) / (df + 0.5)).ln();
    let robertson = ((docs - df + 0.5) / (df + 0.5)).ln().max(COMMON_TERM_FLOOR);
    robertson / tantivy
}

/// A question's distinct character grams (`segment::char_grams`) without those made only of
/// [`STOP_CHARS`].
fn query_grams(question: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    char_grams(question)
        .into_iter()
        .filter(|g| !g.chars().all(|c| STOP_CHARS.contains(c)))
        .filter(|g| seen.insert(g.clone()))
        .collect()
}

/// How much more a passage counts when the question names its document.
const NAMED_BONUS: f32 = 0.5;

/// Whether the question names a document: it holds at least four fifths of the title's terms
/// (weighted by length). "居民身份证换领需带的材料" names 居民身份证换领; a question sharing
/// a place and a topic word with a long policy heading does not.
fn names_document(title: &HashSet<String>, terms: &[String]) -> bool {
    let total: usize = title.iter().map(|t| t.chars().count()).sum();
    let named: usize = title
        .iter()
        .filter(|t| terms.contains(t))
        .map(|t| t.chars().count())
        .sum();
    total > 0 && named * 5 >= total * 4
}

/// One clause of a query: a term of one field, where each segment holds it, how many
/// passages do, and its weight.
struct Clause {
    field: Field,
    #[cfg(test)]
    term: Term,
    found: Vec<Option<TermInfo>>,
    df: u64,
    boost: f32,
}

/// A passage in the running for the top, by its address (segment, document): better is a
/// higher score, then indexed earlier.
#[derive(PartialEq)]
struct Hit {
    score: f32,
    at: (u32, u32),
}

impl Eq for Hit {}

impl Ord for Hit {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.score
            .total_cmp(&other.score)
            .then(other.at.cmp(&self.at))
    }
}

impl PartialOrd for Hit {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A field's length norms in one segment, as tantivy's term scorer reads them (a field
/// without norms counts every passage as one token long).
fn field_norms(segment: &SegmentReader, field: Field) -> Result<FieldNormReader> {
    Ok(segment
        .fieldnorms_readers()
        .get_field(field)?
        .unwrap_or_else(|| FieldNormReader::constant(segment.max_doc(), 1)))
}

/// One opened generation: the tantivy index, its reader and its catalog.
pub struct KnowledgeIndex {
    pub generation: String,
    pub catalog: Catalog,
    segmenter: Segmenter,
    /// The generation's one searcher: a generation never changes once built, so its segments,
    /// and what is read from them below, hold for as long as it is open.
    searcher: Searcher,
    /// Per segment: the passage each tantivy document is.
    passage_of: Vec<Vec<u32>>,
    /// Per segment and field (by field id): the field's length norms, for BM25.
    norms: Vec<Vec<FieldNormReader>>,
    /// Per field (by field id): its average length over the generation, for BM25.
    average_norm: Vec<f32>,
    fields: Fields,
    by_id: HashMap<DocId, u32>,
    /// Per document: the terms of its title, aliases and FAQ phrasings.
    topics: Vec<HashSet<String>>,
    /// Per document: the terms of its title.
    titles: Vec<HashSet<String>>,
    /// The names of all documents, for reading misspelt ones.
    sounds: SoundAlikes,
    /// English words → the guides' Chinese terms.
    glossary: Glossary,
    /// Per passage: its terms ([`KnowledgeIndex::passage_terms`]), segmented the first time a
    /// question retrieves it.
    passage_terms: Vec<std::sync::OnceLock<Vec<String>>>,
}

impl KnowledgeIndex {
    /// Opens the current generation under `data/index`.
    pub fn open_current(data_dir: &Path) -> Result<KnowledgeIndex> {
        let generation = current_generation(data_dir).with_context(|| {
            format!(
                "{} 下没有索引：请先运行 `xiaoban index`",
                data_dir.join("index").display()
            )
        })?;
        Self::open(&data_dir.join("index").join(&generation), generation)
    }

    fn open(dir: &PathBuf, generation: String) -> Result<KnowledgeIndex> {
        let catalog: Catalog = serde_json::from_slice(
            &std::fs::read(dir.join(CATALOG))
                .with_context(|| format!("读取 {}", dir.join(CATALOG).display()))?,
        )?;
        let index = Index::open_in_dir(dir)?;
        let segmenter = Segmenter::new(&catalog.settings.user_words);
        register_tokenizers(&index, &segmenter);
        let fields = fields_of(&index.schema())?;
        let reader: tantivy::IndexReader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let searcher = reader.searcher();
        let passage_of = searcher
            .segment_readers()
            .iter()
            .map(|segment| {
                let column = segment.fast_fields().u64("passage")?;
                Ok((0..segment.max_doc())
                    .map(|doc| column.first(doc).map_or(u32::MAX, |p| p as u32))
                    .collect())
            })
            .collect::<Result<Vec<Vec<u32>>>>()?;
        let schema = index.schema();
        let all_fields: Vec<Field> = schema.fields().map(|(field, _)| field).collect();
        let norms = searcher
            .segment_readers()
            .iter()
            .map(|segment| {
                all_fields
                    .iter()
                    .map(|&field| field_norms(segment, field))
                    .collect::<Result<Vec<FieldNormReader>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        // As tantivy's BM25 weighs a term: the field's tokens over the documents of every segment.
        let all_docs = Bm25StatisticsProvider::total_num_docs(&searcher)?;
        let average_norm = all_fields
            .iter()
            .map(|&field| {
                let tokens = Bm25StatisticsProvider::total_num_tokens(&searcher, field)?;
                Ok(tokens as f32 / all_docs as f32)
            })
            .collect::<Result<Vec<f32>>>()?;
        let by_id = catalog
            .documents
            .iter()
            .enumerate()
            .map(|(i, d)| (d.meta.id.clone(), i as u32))
            .collect();
        let titles = catalog
            .documents
            .iter()
            .map(|d| segmenter.terms(&d.meta.title).into_iter().collect())
            .collect();
        let topics: Vec<HashSet<String>> = catalog
            .documents
            .iter()
            .map(|d| {
                let mut names = vec![d.meta.title.clone()];
                names.extend(d.meta.aliases.iter().cloned());
                names.extend(d.sections.iter().flat_map(|s| s.phrasings.iter().cloned()));
                segmenter.terms(&names.join(" ")).into_iter().collect()
            })
            .collect();
        let sounds = SoundAlikes::new(topics.iter().flatten());
        let glossary = Glossary::new(&catalog.settings.glossary);
        let passage_terms = catalog
            .passages
            .iter()
            .map(|_| std::sync::OnceLock::new())
            .collect();
        Ok(KnowledgeIndex {
            generation,
            catalog,
            segmenter,
            searcher,
            passage_of,
            norms,
            average_norm,
            fields,
            by_id,
            topics,
            titles,
            sounds,
            glossary,
            passage_terms,
        })
    }

    pub fn segmenter(&self) -> &Segmenter {
        &self.segmenter
    }

    pub fn document(&self, id: &DocId) -> Option<&Document> {
        self.by_id
            .get(id)
            .map(|&i| &self.catalog.documents[i as usize])
    }

    pub fn doc_at(&self, pos: u32) -> &Document {
        &self.catalog.documents[pos as usize]
    }

    pub fn doc_pos(&self, id: &DocId) -> Option<u32> {
        self.by_id.get(id).copied()
    }

    /// The terms that name a document (title, aliases, FAQ phrasings).
    pub fn topic_terms(&self, pos: u32) -> &HashSet<String> {
        &self.topics[pos as usize]
    }

    /// The terms of a document's title.
    pub fn title_terms(&self, pos: u32) -> &HashSet<String> {
        &self.titles[pos as usize]
    }

    pub fn passage(&self, id: u32) -> &Passage {
        &self.catalog.passages[id as usize]
    }

    /// The terms (search mode) of a passage's section, keywords and text, as the answer
    /// pipeline compares them with a question's: segmented once per generation, not once per
    /// question that retrieves the passage.
    pub fn passage_terms(&self, id: u32) -> &[String] {
        self.passage_terms[id as usize].get_or_init(|| {
            let p = self.passage(id);
            self.segmenter.terms(&format!(
                "{} {} {}",
                p.section,
                p.keywords.join(" "),
                p.text
            ))
        })
    }

    /// Passages of one document, in document order.
    pub fn passages_of(&self, doc: u32) -> impl Iterator<Item = &Passage> {
        self.catalog.passages.iter().filter(move |p| p.doc == doc)
    }

    /// The query terms for a question: segmented, without stop words, plus synonym expansions.
    pub fn query_terms(&self, question: &str) -> (Vec<String>, Vec<String>) {
        let (typed, from_synonyms, expanded) = self.query_parts(&self.corrected(question));
        (typed.into_iter().chain(from_synonyms).collect(), expanded)
    }

    /// The official terms a question's colloquial phrases (synonyms) and English words
    /// (glossary) stand for, and the question without the English words they translate.
    pub fn expansions(&self, question: &str) -> (Vec<String>, Glossed) {
        let synonyms = &self.catalog.settings.synonyms;
        let mut expanded: Vec<String> = super::expand::expansions(synonyms, question)
            .into_iter()
            .map(str::to_string)
            .collect();
        let glossed = self
            .glossary
            .translate(&super::expand::untranslated(synonyms, question));
        for t in glossed.units.iter().flatten() {
            if !expanded.contains(t) {
                expanded.push(t.clone());
            }
        }
        (expanded, glossed)
    }

    /// The question's own terms (English words the synonyms and the glossary translate left
    /// out), the further terms their expansions add, and the expansions themselves.
    fn query_parts(&self, question: &str) -> (Vec<String>, Vec<String>, Vec<String>) {
        let (expanded, glossed) = self.expansions(question);
        let mut typed: Vec<String> = Vec::new();
        for t in self.segmenter.terms(&glossed.rest) {
            if !STOPWORDS.contains(&t.as_str()) && !typed.contains(&t) {
                typed.push(t);
            }
        }
        let mut added: Vec<String> = Vec::new();
        for t in self.segmenter.terms(&expanded.join(" ")) {
            if !STOPWORDS.contains(&t.as_str()) && !typed.contains(&t) && !added.contains(&t) {
                added.push(t);
            }
        }
        (typed, added, expanded)
    }

    /// The question with misspelt document names read as the names they sound like.
    fn corrected(&self, question: &str) -> String {
        let printed = |pair: &str| {
            let term = Term::from_field_text(self.fields.text_chars, pair);
            self.searcher.doc_freq(&term).is_ok_and(|n| n > 0)
        };
        self.sounds
            .correct(&crate::text::normalise(question), &self.segmenter, printed)
            .0
    }

    /// Top passages for `question` among documents in force on `today`, and the documents
    /// they belong to, best first. A passage's score adds up, each with its weight, the BM25
    /// scores of the question's words (aliases, section and body boosted in that order), of
    /// the official terms its colloquial phrases expand to, and of its character grams in the
    /// passage text and, weighed lower, in the document's opening.
    pub fn search(
        &self,
        question: &str,
        today: NaiveDate,
        limit: usize,
        weights: &Weights,
    ) -> Result<Retrieval> {
        let question = &self.corrected(question);
        let (mut typed, added, expanded) = self.query_parts(question);
        // Amounts, ages and years said in words count as the digits guides print them in.
        let numbers = crate::text::chinese_numbers(question);
        for n in &numbers {
            if !typed.contains(n) {
                typed.push(n.clone());
            }
        }
        let mut out = Retrieval {
            terms: typed.iter().chain(&added).cloned().collect(),
            typed: typed.len(),
            expanded,
            glue: self.segmenter.glue_words(question),
            ..Default::default()
        };
        let mut grams = query_grams(question);
        for n in numbers {
            if !grams.contains(&n) {
                grams.push(n);
            }
        }
        if out.terms.is_empty() && grams.is_empty() {
            return Ok(out);
        }
        let clauses = self.clauses([&typed, &added], &grams, weights);
        if clauses.is_empty() {
            return Ok(out);
        }
        let mut scored: Vec<(f32, &Passage)> = Vec::new();
        for (score, pid) in self.top(&clauses, limit * 4)? {
            let p = &self.catalog.passages[pid as usize];
            if !self.catalog.documents[p.doc as usize]
                .meta
                .in_force_on(today)
            {
                continue;
            }
            let named = names_document(&self.titles[p.doc as usize], &out.terms);
            scored.push((
                if named {
                    score * (1.0 + NAMED_BONUS)
                } else {
                    score
                },
                p,
            ));
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut doc_rank: HashMap<u32, usize> = HashMap::new();
        for (score, p) in scored {
            if out.passages.len() < limit {
                out.passages.push(ScoredPassage {
                    passage: p.id,
                    score,
                });
            }
            if let std::collections::hash_map::Entry::Vacant(e) = doc_rank.entry(p.doc) {
                e.insert(out.docs.len());
                out.docs.push(ScoredDoc {
                    doc: p.doc,
                    score,
                    best_passage: p.id,
                });
            }
        }
        Ok(out)
    }

    /// The query's clauses, one per term and field that some passage holds: the question's
    /// words over aliases, section and body, its synonym expansions the same way with their
    /// lower weight, and its character grams over the passage text and the opening.
    fn clauses(
        &self,
        [typed, added]: [&[String]; 2],
        grams: &[String],
        weights: &Weights,
    ) -> Vec<Clause> {
        let fields = [self.fields.aliases, self.fields.section, self.fields.body];
        let docs = self.searcher.num_docs() as f32;
        let mut clauses: Vec<Clause> = Vec::new();
        let mut add = |field: Field, text: &str, boost: f32| {
            if boost > 0.0 {
                let term = Term::from_field_text(field, text);
                let found: Vec<Option<TermInfo>> = self
                    .searcher
                    .segment_readers()
                    .iter()
                    .map(|segment| {
                        segment
                            .inverted_index(field)
                            .ok()
                            .and_then(|index| index.get_term_info(&term).ok().flatten())
                    })
                    .collect();
                let df: u64 = found.iter().flatten().map(|t| u64::from(t.doc_freq)).sum();
                // A term no passage holds in this field adds nothing to any score: a clause for
                // it would only cost time (an imported corpus has no aliases or sections, and
                // most grams are in no opening).
                if df == 0 {
                    return;
                }
                let boost = boost * common_term_weight(df as f32, docs);
                clauses.push(Clause {
                    field,
                    #[cfg(test)]
                    term,
                    found,
                    df,
                    boost,
                });
            }
        };
        for (terms, weight) in [(typed, weights.words), (added, weights.synonyms)] {
            for t in terms {
                for (field, (_, boost)) in fields.iter().zip(BOOSTS) {
                    add(*field, t, boost * weight);
                }
            }
        }
        for g in grams {
            add(self.fields.text_chars, g, weights.chars);
            add(self.fields.lead_chars, g, weights.chars * LEAD_BOOST);
        }
        clauses
    }

    /// The `k` best passages for the clauses, best first, with their scores: each clause's
    /// BM25 score (tantivy's, with the clause's boost) added up per passage, term at a time
    /// over an array of the segment's documents. Ties go to the passage indexed first, as in
    /// tantivy's top-k collector. A generation holds some ten thousand passages, where walking
    /// every posting of every clause is several times cheaper than tantivy's block-max WAND
    /// over the fifty-odd clauses of a question (which re-sorts the clauses at every step).
    fn top(&self, clauses: &[Clause], k: usize) -> Result<Vec<(f32, u32)>> {
        let searcher = &self.searcher;
        let all_docs = Bm25StatisticsProvider::total_num_docs(searcher)?;
        let weights: Vec<Bm25Weight> = clauses
            .iter()
            .map(|c| {
                let average = self.average_norm[c.field.field_id() as usize];
                Bm25Weight::for_one_term_without_explain(c.df, all_docs, average).boost_by(c.boost)
            })
            .collect();
        // The k best so far, the worst on top: a passage enters only above it, so among equal
        // scores the one indexed first stays.
        let mut best: BinaryHeap<Reverse<Hit>> = BinaryHeap::with_capacity(k + 1);
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let mut sum = vec![0f32; segment.max_doc() as usize];
            for (c, weight) in clauses.iter().zip(&weights) {
                let Some(info) = &c.found[ord] else {
                    continue;
                };
                let norms = &self.norms[ord][c.field.field_id() as usize];
                // Block by block (128 documents and their frequencies decoded at a time).
                let mut postings = segment
                    .inverted_index(c.field)?
                    .read_block_postings_from_terminfo(info, IndexRecordOption::WithFreqs)?;
                while !postings.docs().is_empty() {
                    for (&doc, &freq) in postings.docs().iter().zip(postings.freqs()) {
                        sum[doc as usize] += weight.score(norms.fieldnorm_id(doc), freq);
                    }
                    postings.advance();
                }
            }
            let alive = segment.alive_bitset();
            for (doc, &score) in sum.iter().enumerate() {
                // Every clause scores a passage it matches above zero.
                if score <= 0.0
                    || best.len() == k && best.peek().is_some_and(|w| score <= w.0.score)
                {
                    continue;
                }
                if alive.is_some_and(|a| !a.is_alive(doc as u32)) {
                    continue;
                }
                best.push(Reverse(Hit {
                    score,
                    at: (ord as u32, doc as u32),
                }));
                if best.len() > k {
                    best.pop();
                }
            }
        }
        Ok(best
            .into_sorted_vec()
            .into_iter()
            .map(|Reverse(h)| (h.score, self.passage_of[h.at.0 as usize][h.at.1 as usize]))
            .filter(|&(_, pid)| pid != u32::MAX)
            .collect())
    }

    /// Which query terms a passage matches, field by field (for `xiaoban search`).
    pub fn explain(&self, terms: &[String], passage: u32) -> Vec<(String, Vec<String>)> {
        let p = self.passage(passage);
        let d = self.doc_at(p.doc);
        let aliases = format!(
            "{} {} {}",
            d.meta.aliases.join(" "),
            d.meta.tags.join(" "),
            p.keywords.join(" ")
        );
        let texts = [
            ("title", d.meta.title.as_str()),
            ("aliases", aliases.as_str()),
            ("section", p.section.as_str()),
            ("body", p.text.as_str()),
        ];
        texts
            .iter()
            .filter_map(|(name, text)| {
                let have = self.segmenter.terms(text);
                let hit: Vec<String> = terms.iter().filter(|t| have.contains(t)).cloned().collect();
                (!hit.is_empty()).then(|| (name.to_string(), hit))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> chrono::DateTime<chrono::Utc> {
        chrono::NaiveDateTime::parse_from_str(s, "%Y%m%dT%H%M%S")
            .unwrap()
            .and_utc()
    }

    #[test]
    fn only_abandoned_build_folders_are_removed() {
        let data = tempfile::tempdir().unwrap();
        let root = data.path().join("index");
        std::fs::create_dir_all(&root).unwrap();
        let folder = |name: &str| {
            std::fs::create_dir_all(root.join(name)).unwrap();
            std::fs::write(root.join(name).join("meta.json"), "{}").unwrap();
        };
        // A killed build: its folder and its lock file, no one holding the lock.
        folder("tmp-gen-20261206T010000.000001-11");
        std::fs::write(root.join("tmp-gen-20261206T010000.000001-11.lock"), "").unwrap();
        // A build still writing (here or on another node): its lock is held.
        folder("tmp-gen-20261206T010000.000002-12");
        let held =
            std::fs::File::create(root.join("tmp-gen-20261206T010000.000002-12.lock")).unwrap();
        held.lock().unwrap();
        // A folder without a lock file, changed just now: left alone.
        folder("tmp-gen-20261206T010000.000003-13");
        // A lock whose build died before making its folder.
        std::fs::write(root.join("tmp-gen-20261206T010000.000004-14.lock"), "").unwrap();
        assert_eq!(remove_abandoned_builds(data.path()), 1);
        let left: HashSet<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        let expected: HashSet<String> = [
            "tmp-gen-20261206T010000.000002-12",
            "tmp-gen-20261206T010000.000002-12.lock",
            "tmp-gen-20261206T010000.000003-13",
        ]
        .map(String::from)
        .into();
        assert_eq!(left, expected);
        drop(held);
        assert_eq!(
            remove_abandoned_builds(data.path()),
            1,
            "once its build is gone"
        );
    }

    #[test]
    fn replaced_generations_stay_until_every_node_has_moved_on() {
        let gens: Vec<String> = [
            "gen-20261129T060000.000001-10",
            "gen-20261129T060100.000001-11",
            "gen-20261129T070000.000001-12",
            "gen-20261129T070500.000001-13",
            "gen-20261129T070600.000001-14",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let current = gens[4].as_str();
        // At 07:12: the first was replaced at 06:01 and the second at 07:00 (gone); the third
        // at 07:05, under ten minutes ago (kept); the fourth is the one before current.
        let gone = removable_generations(&gens, current, at("20261129T071200"));
        assert_eq!(gone, vec![gens[0].as_str(), gens[1].as_str()]);
        // Much later only the current one and the one before it remain.
        let gone = removable_generations(&gens, current, at("20261130T000000"));
        assert_eq!(
            gone,
            vec![gens[0].as_str(), gens[1].as_str(), gens[2].as_str()]
        );
        // A generation newer than CURRENT (another node's build about to switch) is kept.
        let gone = removable_generations(&gens, gens[2].as_str(), at("20261130T000000"));
        assert_eq!(gone, vec![gens[0].as_str()]);
    }

    #[test]
    fn a_document_opens_with_its_title_and_first_sentence() {
        // A text that begins with its title is read after it; the sentence ends at its mark.
        assert_eq!(
            opening("某市通知", "某市通知 为做好工作，现通知如下。一、适用范围"),
            "某市通知 为做好工作，现通知如下。"
        );
        // An answer without a telling title: its first sentence, up to a line break.
        assert_eq!(opening("政务答复", "可以。\n其余说明"), "政务答复 可以。");
        // A sentence that never ends is cut.
        let long = "长".repeat(200);
        assert_eq!(
            opening("标题", &long).chars().count(),
            "标题 ".chars().count() + LEAD_CHARS
        );
    }

    fn answer_file(id: &str, text: &str) -> String {
        format!(
            "+++\nid = \"{id}\"\ntitle = \"政务答复\"\nkind = \"policy\"\nissuing_body = \"应急局\"\n\
             region = \"示例市\"\neffective_from = 2020-01-01\ntags = []\naliases = []\n+++\n\n## 内容\n{text}\n"
        )
    }

    /// An index of imported answers (no aliases, one generic title), with its folders.
    fn answers_index(answers: &[(&str, &str)]) -> (tempfile::TempDir, KnowledgeIndex) {
        let kb = tempfile::tempdir().unwrap();
        let data = kb.path().join("data");
        let docs = kb.path().join("documents");
        std::fs::create_dir_all(&docs).unwrap();
        for (id, text) in answers {
            std::fs::write(docs.join(format!("{id}.md")), answer_file(id, text)).unwrap();
        }
        let report = build(kb.path(), &data).unwrap();
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let index = KnowledgeIndex::open_current(&data).unwrap();
        (kb, index)
    }

    fn first_found(index: &KnowledgeIndex, question: &str) -> String {
        let today = chrono::Local::now().date_naive();
        let found = index
            .search(question, today, 5, &Weights::default())
            .unwrap();
        index.doc_at(found.docs[0].doc).meta.id.to_string()
    }

    const OTHER_ANSWERS: [(&str, &str); 3] = [
        ("card", "社保卡丢失后先挂失，再到网点补办。"),
        ("fund", "租住房屋的职工可按季度提取住房资金。"),
        ("school", "入学登记在每年五月进行，需带户口簿。"),
    ];

    #[test]
    fn an_answer_that_opens_with_the_subject_ranks_above_a_passing_mention() {
        // The same words once each; the shorter text would win on length alone.
        let opens = "防滑链要装在驱动轮上。先把车停稳，再检查轮胎，最后扣紧链条。";
        let mentions = "雪天先看天气预报。车上备好防滑链。";
        let mut answers = vec![("opens", opens), ("mentions", mentions)];
        answers.extend(OTHER_ANSWERS);
        let (_kb, index) = answers_index(&answers);
        assert_eq!(first_found(&index, "防滑链"), "opens");
    }

    #[test]
    fn the_words_of_asking_are_no_evidence() {
        // An answer that happens to print the words a citizen asks with (rare in answers, so
        // BM25 would weigh them high) does not outrank the one about the subject.
        let asking = "如需咨询，麻烦拨打电话；关于咨询时间，工作日均可咨询。";
        let mut answers = vec![("chains", "防滑链要装在驱动轮上。"), ("asking", asking)];
        answers.extend(OTHER_ANSWERS);
        let (_kb, index) = answers_index(&answers);
        assert_eq!(
            first_found(&index, "您好，麻烦咨询一下关于防滑链"),
            "chains"
        );
        assert_eq!(query_grams("请问咨询一下关于"), Vec::<String>::new());
    }

    #[test]
    fn a_term_no_passage_holds_adds_no_clause() {
        let (_kb, index) = answers_index(&OTHER_ANSWERS);
        let clauses = |question: &str| {
            let (typed, added, _) = index.query_parts(question);
            index
                .clauses(
                    [&typed, &added],
                    &query_grams(question),
                    &Weights::default(),
                )
                .len()
        };
        assert_eq!(clauses("火星"), 0);
        assert!(clauses("社保卡") > 0);
        assert_eq!(clauses("社保卡火星"), clauses("社保卡"));
    }

    #[test]
    fn passages_score_and_rank_as_tantivys_boolean_query_ranks_them() {
        use tantivy::collector::TopDocs;
        use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
        let mut answers = vec![
            (
                "lost",
                "社保卡丢失后先电话挂失，再带身份证到网点补办社保卡。",
            ),
            (
                "copy",
                "社保卡丢失后先电话挂失，再带身份证到网点补办社保卡。",
            ),
            ("moved", "社保卡信息变更请到网点办理，身份证原件必带。"),
        ];
        answers.extend(OTHER_ANSWERS);
        let (_kb, index) = answers_index(&answers);
        let question = "社保卡丢失后挂失和补办都要带身份证吗";
        let (typed, added, _) = index.query_parts(question);
        let clauses = index.clauses(
            [&typed, &added],
            &query_grams(question),
            &Weights::default(),
        );
        let query = BooleanQuery::new(
            clauses
                .iter()
                .map(|c| {
                    let q = TermQuery::new(c.term.clone(), IndexRecordOption::WithFreqs);
                    let q: Box<dyn Query> = Box::new(BoostQuery::new(Box::new(q), c.boost));
                    (Occur::Should, q)
                })
                .collect(),
        );
        let expected: Vec<(f32, u32)> = index
            .searcher
            .search(&query, &TopDocs::with_limit(5).order_by_score())
            .unwrap()
            .into_iter()
            .map(|(score, a)| {
                let pid = index.passage_of[a.segment_ord as usize][a.doc_id as usize];
                (score, pid)
            })
            .collect();
        let got = index.top(&clauses, 5).unwrap();
        assert_eq!(
            got.iter().map(|h| h.1).collect::<Vec<_>>(),
            expected.iter().map(|h| h.1).collect::<Vec<_>>()
        );
        for ((a, _), (b, _)) in got.iter().zip(&expected) {
            assert!((a - b).abs() <= 1e-5 * b.abs(), "{a} vs {b}");
        }
        // Two passages with the same text tie: the one indexed first ranks first.
        assert!(got[0].0 == got[1].0 && got[0].1 < got[1].1, "{got:?}");
    }

    #[test]
    fn generation_names_carry_their_build_time() {
        assert_eq!(
            generation_time("gen-20261129T062438.123456-4242"),
            Some(
                chrono::NaiveDateTime::parse_from_str("20261129T062438.123456", "%Y%m%dT%H%M%S%.f")
                    .unwrap()
                    .and_utc()
            )
        );
        assert_eq!(generation_time("gen-garbage"), None);
    }
}
