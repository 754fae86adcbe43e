//! Tiny Qwen2-architecture models with random weights, written at test time (no model hub is
//! reachable from the test machines): a GGUF file, a safetensors checkpoint with `config.json`,
//! and a `tokenizer.json`.
//!
//! The tokenizer is a byte-level BPE shaped like Qwen's (same pre-tokenizer regex, byte-level
//! decoder, `<|endoftext|>` / `<|im_start|>` / `<|im_end|>` as special added tokens): 256 byte
//! tokens, plus merges that make each of the most common characters of the knowledge base one
//! token. Other characters, and the partial-character tokens the model can still produce, span
//! several tokens, as in Qwen.
//!
//! The weights are random but shaped so tests can rely on two behaviours:
//! - Dimension 0 of every embedding is a fixed "bias" feature that no layer writes to (row 0 of
//!   `o_proj` and `down_proj` is zero), so after the final norm it has a known sign. Ordinary
//!   tokens carry +4 there, the special tokens −100: with tied embeddings the end tokens then
//!   always lose the argmax, so [`make_tiny_models`] never ends by itself. In
//!   [`make_tiny_models_ending`] `<|im_end|>` carries +100 and always wins.
//! - The model's vocabulary is padded past the tokenizer's (as Qwen's is); padding rows carry +60
//!   and would win every argmax if a backend forgot to leave them out.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
use candle_core::{Device, Tensor};
use serde_json::json;

pub const HIDDEN: usize = 64;
pub const LAYERS: usize = 2;
pub const HEADS: usize = 4;
pub const KV_HEADS: usize = 2;
pub const INTERMEDIATE: usize = 128;
pub const CONTEXT: usize = 512;
/// How many of the knowledge base's most common characters get a token of their own.
pub const COMMON_CHARS: usize = 400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// End tokens never win: generation runs until another limit.
    Normal,
    /// `<|im_end|>` always wins: generation ends at the first token.
    EndsAtOnce,
}

/// Writes the tokenizer and both model files for the normal variant into `dir`; returns
/// (gguf, safetensors, tokenizer.json).
pub fn make_tiny_models(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    make_tiny_models_variant(dir, Variant::Normal)
}

/// Like [`make_tiny_models`], but the model answers `<|im_end|>` straight away.
pub fn make_tiny_models_ending(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    make_tiny_models_variant(dir, Variant::EndsAtOnce)
}

pub fn make_tiny_models_variant(dir: &Path, variant: Variant) -> (PathBuf, PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let tok = write_tokenizer(&dir.join("tokenizer.json"));
    let weights = tiny_weights(&tok, variant);

    let st_dir = dir.join("tiny-qwen2");
    std::fs::create_dir_all(&st_dir).unwrap();
    let safetensors = st_dir.join("model.safetensors");
    write_safetensors(&weights, &safetensors);
    write_config(&tok, &st_dir.join("config.json"));

    let gguf = dir.join("tiny-qwen2-q8_0.gguf");
    write_gguf(&weights, &gguf, CONTEXT);
    (gguf, safetensors, tok.path)
}

/// Only the GGUF model and the tokenizer, with a context of `context` tokens (room for the
/// assistant's whole grounded prompt); returns (gguf, tokenizer.json).
pub fn make_tiny_gguf(dir: &Path, variant: Variant, context: usize) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let tok = write_tokenizer(&dir.join("tokenizer.json"));
    let weights = tiny_weights(&tok, variant);
    let gguf = dir.join("tiny-qwen2-q8_0.gguf");
    write_gguf(&weights, &gguf, context);
    (gguf, tok.path)
}

/// The test tokenizer as written.
pub struct TinyTokenizer {
    pub path: PathBuf,
    /// Ids in use, special tokens included (0..size).
    pub size: usize,
    pub endoftext: u32,
    pub im_start: u32,
    pub im_end: u32,
}

impl TinyTokenizer {
    /// The model's vocabulary: the tokenizer's padded up to the next multiple of 64, always with
    /// some padding.
    pub fn model_vocab(&self) -> usize {
        (self.size / 64 + 1) * 64
    }
}

/// GPT-2's byte ↔ printable character table used by byte-level BPE.
pub fn byte_chars() -> [char; 256] {
    let mut printable: Vec<u32> = (u32::from('!')..=u32::from('~')).collect();
    printable.extend(u32::from('¡')..=u32::from('¬'));
    printable.extend(u32::from('®')..=u32::from('ÿ'));
    let mut table = ['\0'; 256];
    let mut extra = 0;
    for b in 0..256u32 {
        table[b as usize] = if printable.contains(&b) {
            char::from_u32(b).unwrap()
        } else {
            extra += 1;
            char::from_u32(255 + extra).unwrap()
        };
    }
    table
}

/// The knowledge base's documents, concatenated.
pub fn knowledge_base_text() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge_base/documents");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no documents in {}", dir.display());
    files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The most common three-byte characters (Chinese characters and full-width punctuation) of the
/// knowledge base, most common first.
pub fn common_chars() -> Vec<char> {
    let mut counts: HashMap<char, usize> = HashMap::new();
    for c in knowledge_base_text().chars().filter(|c| c.len_utf8() == 3) {
        *counts.entry(c).or_default() += 1;
    }
    let mut chars: Vec<(char, usize)> = counts.into_iter().collect();
    chars.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    chars
        .into_iter()
        .take(COMMON_CHARS)
        .map(|(c, _)| c)
        .collect()
}

/// Qwen2's pre-tokenizer split pattern.
const QWEN_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

pub fn write_tokenizer(path: &Path) -> TinyTokenizer {
    let bc = byte_chars();
    let mut vocab = serde_json::Map::new();
    for (b, c) in bc.iter().enumerate() {
        vocab.insert(c.to_string(), json!(b));
    }
    let mut next = 256usize;
    let mut prefix_merges = Vec::new();
    let mut char_merges = Vec::new();
    for c in common_chars() {
        let mut buf = [0u8; 4];
        let bytes = c.encode_utf8(&mut buf).as_bytes();
        let (a, b, z) = (
            bc[bytes[0] as usize],
            bc[bytes[1] as usize],
            bc[bytes[2] as usize],
        );
        let prefix = format!("{a}{b}");
        if !vocab.contains_key(&prefix) {
            vocab.insert(prefix.clone(), json!(next));
            next += 1;
            prefix_merges.push(format!("{a} {b}"));
        }
        vocab.insert(format!("{prefix}{z}"), json!(next));
        next += 1;
        char_merges.push(format!("{prefix} {z}"));
    }
    let merges: Vec<String> = prefix_merges.into_iter().chain(char_merges).collect();
    let (endoftext, im_start, im_end) = (next as u32, next as u32 + 1, next as u32 + 2);
    let added = |id: u32, content: &str| {
        json!({"id": id, "content": content, "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": false, "special": true})
    };
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false,
                            "trim_offsets": false, "use_regex": false});
    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [
            added(endoftext, "<|endoftext|>"),
            added(im_start, "<|im_start|>"),
            added(im_end, "<|im_end|>"),
        ],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN_SPLIT}, "behavior": "Isolated",
             "invert": false},
            byte_level,
        ]},
        "post_processor": byte_level,
        "decoder": byte_level,
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null,
            "continuing_subword_prefix": "", "end_of_word_suffix": "",
            "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
            "vocab": vocab, "merges": merges,
        },
    });
    std::fs::write(path, serde_json::to_string_pretty(&tokenizer).unwrap()).unwrap();
    TinyTokenizer {
        path: path.to_path_buf(),
        size: next + 3,
        endoftext,
        im_start,
        im_end,
    }
}

/// A seeded source of uniform numbers (SplitMix64), so the models are the same on every run.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform with mean 0 and standard deviation `std`.
    fn uniform(&mut self, std: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32; // [0, 1)
        (unit * 2.0 - 1.0) * 3f32.sqrt() * std
    }

    fn fill(&mut self, n: usize, std: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(std)).collect()
    }
}

/// One tensor: shape (PyTorch order, rows = outputs) and values.
type Weights = Vec<(String, Vec<usize>, Vec<f32>)>;

fn tiny_weights(tok: &TinyTokenizer, variant: Variant) -> Weights {
    let mut rng = Rng(0x5EED_0F0A_1100);
    let vocab = tok.model_vocab();
    let head_dim = HIDDEN / HEADS;
    let kv = KV_HEADS * head_dim;
    let mut w: Weights = Vec::new();

    let mut embed = Vec::with_capacity(vocab * HIDDEN);
    for id in 0..vocab as u32 {
        let marker = if id as usize >= tok.size {
            60.0 // padding
        } else if id == tok.im_end && variant == Variant::EndsAtOnce {
            100.0
        } else if [tok.endoftext, tok.im_start, tok.im_end].contains(&id) {
            -100.0
        } else {
            embed.push(4.0);
            embed.extend(rng.fill(HIDDEN - 1, 1.0));
            continue;
        };
        embed.push(marker);
        embed.extend(std::iter::repeat_n(0.0, HIDDEN - 1));
    }
    w.push((
        "model.embed_tokens.weight".into(),
        vec![vocab, HIDDEN],
        embed,
    ));

    // Matrices writing into the residual stream (`o_proj`, `down_proj`) are scaled up so the
    // layers, not the current token's own embedding, decide the next token: with tied
    // embeddings a weak network would just repeat its input token.
    let matrix = |rng: &mut Rng, rows: usize, cols: usize, output: bool| {
        let gain = if output { 3.0 } else { 1.0 };
        let mut m = rng.fill(rows * cols, gain / (cols as f32).sqrt());
        if output {
            m[..cols].fill(0.0);
        }
        m
    };
    for l in 0..LAYERS {
        let p = format!("model.layers.{l}");
        for (name, rows) in [("q_proj", HIDDEN), ("k_proj", kv), ("v_proj", kv)] {
            let m = matrix(&mut rng, rows, HIDDEN, false);
            w.push((
                format!("{p}.self_attn.{name}.weight"),
                vec![rows, HIDDEN],
                m,
            ));
            let b = rng.fill(rows, 0.05);
            w.push((format!("{p}.self_attn.{name}.bias"), vec![rows], b));
        }
        let o = matrix(&mut rng, HIDDEN, HIDDEN, true);
        w.push((
            format!("{p}.self_attn.o_proj.weight"),
            vec![HIDDEN, HIDDEN],
            o,
        ));
        for name in ["gate_proj", "up_proj"] {
            let m = matrix(&mut rng, INTERMEDIATE, HIDDEN, false);
            w.push((
                format!("{p}.mlp.{name}.weight"),
                vec![INTERMEDIATE, HIDDEN],
                m,
            ));
        }
        let down = matrix(&mut rng, HIDDEN, INTERMEDIATE, true);
        w.push((
            format!("{p}.mlp.down_proj.weight"),
            vec![HIDDEN, INTERMEDIATE],
            down,
        ));
        for norm in ["input_layernorm", "post_attention_layernorm"] {
            w.push((
                format!("{p}.{norm}.weight"),
                vec![HIDDEN],
                vec![1.0; HIDDEN],
            ));
        }
    }
    // A small final norm keeps the logits soft enough for sampling to vary with the seed.
    w.push(("model.norm.weight".into(), vec![HIDDEN], vec![0.3; HIDDEN]));
    w
}

fn tensor(shape: &[usize], values: &[f32]) -> Tensor {
    Tensor::from_slice(values, shape, &Device::Cpu).unwrap()
}

fn write_safetensors(weights: &Weights, path: &Path) {
    let map: HashMap<String, Tensor> = weights
        .iter()
        .map(|(name, shape, values)| (name.clone(), tensor(shape, values)))
        .collect();
    candle_core::safetensors::save(&map, path).unwrap();
}

fn write_config(tok: &TinyTokenizer, path: &Path) {
    let config = json!({
        "architectures": ["Qwen2ForCausalLM"],
        "model_type": "qwen2",
        "vocab_size": tok.model_vocab(),
        "hidden_size": HIDDEN,
        "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "max_position_embeddings": CONTEXT,
        "sliding_window": CONTEXT,
        "max_window_layers": LAYERS,
        "use_sliding_window": false,
        "tie_word_embeddings": true,
        "rope_theta": 1_000_000.0,
        "rms_norm_eps": 1e-6,
        "hidden_act": "silu",
        "torch_dtype": "float32",
        "bos_token_id": tok.endoftext,
        "eos_token_id": tok.im_end,
    });
    std::fs::write(path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
}

/// The llama.cpp name of a Hugging Face Qwen2 tensor.
fn gguf_name(hf: &str) -> String {
    match hf {
        "model.embed_tokens.weight" => return "token_embd.weight".into(),
        "model.norm.weight" => return "output_norm.weight".into(),
        _ => {}
    }
    let rest = hf.strip_prefix("model.layers.").expect("a layer tensor");
    let (layer, rest) = rest.split_once('.').unwrap();
    let part = match rest {
        "self_attn.q_proj.weight" => "attn_q.weight",
        "self_attn.q_proj.bias" => "attn_q.bias",
        "self_attn.k_proj.weight" => "attn_k.weight",
        "self_attn.k_proj.bias" => "attn_k.bias",
        "self_attn.v_proj.weight" => "attn_v.weight",
        "self_attn.v_proj.bias" => "attn_v.bias",
        "self_attn.o_proj.weight" => "attn_output.weight",
        "mlp.gate_proj.weight" => "ffn_gate.weight",
        "mlp.up_proj.weight" => "ffn_up.weight",
        "mlp.down_proj.weight" => "ffn_down.weight",
        "input_layernorm.weight" => "attn_norm.weight",
        "post_attention_layernorm.weight" => "ffn_norm.weight",
        other => panic!("no GGUF name for {other}"),
    };
    format!("blk.{layer}.{part}")
}

/// Matrices quantised to Q8_0 (rows are whole 32-value blocks since every input dimension is a
/// multiple of 32), norms and biases kept in f32.
fn write_gguf(weights: &Weights, path: &Path, context: usize) {
    let tensors: Vec<(String, QTensor)> = weights
        .iter()
        .map(|(name, shape, values)| {
            let dtype = if shape.len() == 2 {
                GgmlDType::Q8_0
            } else {
                GgmlDType::F32
            };
            let q = QTensor::quantize(&tensor(shape, values), dtype).unwrap();
            (gguf_name(name), q)
        })
        .collect();
    use gguf_file::Value;
    let metadata: Vec<(&str, Value)> = vec![
        ("general.architecture", Value::String("qwen2".into())),
        ("general.name", Value::String("tiny-qwen2".into())),
        ("qwen2.block_count", Value::U32(LAYERS as u32)),
        ("qwen2.context_length", Value::U32(context as u32)),
        ("qwen2.embedding_length", Value::U32(HIDDEN as u32)),
        ("qwen2.feed_forward_length", Value::U32(INTERMEDIATE as u32)),
        ("qwen2.attention.head_count", Value::U32(HEADS as u32)),
        ("qwen2.attention.head_count_kv", Value::U32(KV_HEADS as u32)),
        ("qwen2.attention.layer_norm_rms_epsilon", Value::F32(1e-6)),
        ("qwen2.rope.freq_base", Value::F32(1_000_000.0)),
    ];
    let metadata: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
    let mut file = std::fs::File::create(path).unwrap();
    gguf_file::write(&mut file, &metadata, &tensors).unwrap();
}
