//! Qwen2 / Qwen2.5 from a llama.cpp GGUF file, run on the CPU.
//!
//! Derived from candle-transformers 0.11.1, `src/models/quantized_qwen2.rs`
//! (<https://github.com/huggingface/candle>, © the candle developers, dual-licensed MIT or
//! Apache-2.0), and rewritten for speed and memory on plain f32 buffers:
//! - the weights ([`Weights`]) are loaded once and shared by every instance ([`Model`]), which
//!   owns only its KV cache;
//! - the token embedding stays quantised: a lookup dequantises just the rows it needs, and the
//!   same matrix serves as the tied output projection (candle dequantised all of it to f32,
//!   545 MB for Qwen2.5-0.5B);
//! - matrix products are [`super::qmatmul`]'s tiled Q4_0 / Q8_0 kernels, each layer input
//!   quantised once for the products that share it (q/k/v, gate/up);
//! - the KV cache grows in place (no concatenation per token) and grouped-query attention reads
//!   each key/value head directly for all its query heads (no repeated copies);
//! - norms, rotary embedding, attention and SiLU run over the rows in parallel, with AVX2
//!   versions chosen at run time.
//!
//! Everything runs on [`super::qmatmul::pool`].

use std::io::{Read, Seek};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use candle_core::Device;
use candle_core::quantized::gguf_file;
use rayon::prelude::*;

use super::qmatmul::{Activations, Level, QWeight, pool};

/// The model's shape, from the GGUF metadata.
#[derive(Debug, Clone)]
pub struct Config {
    pub hidden: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub layers: usize,
    pub context_length: usize,
    pub vocab: usize,
    rms_eps: f32,
    rope_theta: f32,
}

struct Layer {
    attn_norm: Vec<f32>,
    wq: QWeight,
    wk: QWeight,
    wv: QWeight,
    bq: Vec<f32>,
    bk: Vec<f32>,
    bv: Vec<f32>,
    wo: QWeight,
    ffn_norm: Vec<f32>,
    gate: QWeight,
    up: QWeight,
    down: QWeight,
}

/// The weights of one model, shared by all its instances.
pub struct Weights {
    pub config: Config,
    token_embd: QWeight,
    /// `None`: tied to `token_embd` (Qwen2.5 up to 3B).
    output: Option<QWeight>,
    norm: Vec<f32>,
    layers: Vec<Layer>,
}

impl Weights {
    /// Reads a `qwen2` GGUF file (llama.cpp tensor names).
    pub fn from_gguf<R: Read + Seek>(ct: &gguf_file::Content, reader: &mut R) -> Result<Weights> {
        let md = |key: &str| {
            ct.metadata
                .get(key)
                .with_context(|| format!("GGUF metadata has no {key}"))
        };
        let md_usize = |key: &str| -> Result<usize> {
            Ok(md(key)?.to_u32().map_err(|e| anyhow!("{key}: {e}"))? as usize)
        };
        let heads = md_usize("qwen2.attention.head_count")?;
        let kv_heads = md_usize("qwen2.attention.head_count_kv")?;
        let hidden = md_usize("qwen2.embedding_length")?;
        let layers = md_usize("qwen2.block_count")?;
        let context_length = md_usize("qwen2.context_length")?;
        let rms_eps = md("qwen2.attention.layer_norm_rms_epsilon")?
            .to_f32()
            .map_err(|e| anyhow!("rms epsilon: {e}"))?;
        let rope_theta = md("qwen2.rope.freq_base")
            .ok()
            .and_then(|v| v.to_f32().ok())
            .unwrap_or(10_000.0);
        if heads == 0 || kv_heads == 0 || heads % kv_heads != 0 || hidden % heads != 0 {
            bail!("unsupported attention shape: {heads} heads, {kv_heads} KV heads, {hidden} wide");
        }
        let head_dim = hidden / heads;
        if head_dim % 2 != 0 {
            bail!("head dimension {head_dim} is odd");
        }

        let cpu = Device::Cpu;
        let mut matrix = |name: &str, rows: usize, cols: usize| -> Result<QWeight> {
            let t = ct
                .tensor(reader, name, &cpu)
                .with_context(|| format!("reading {name}"))?;
            let w = QWeight::new(t).with_context(|| name.to_string())?;
            if (rows != 0 && w.rows() != rows) || w.cols() != cols {
                bail!(
                    "{name} is {}×{}, expected {rows}×{cols}",
                    w.rows(),
                    w.cols()
                );
            }
            Ok(w)
        };
        let token_embd = matrix("token_embd.weight", 0, hidden)?;
        let vocab = token_embd.rows();
        let output = if ct.tensor_infos.contains_key("output.weight") {
            Some(matrix("output.weight", vocab, hidden)?)
        } else {
            None
        };
        let kv = kv_heads * head_dim;
        let mut layer_list = Vec::with_capacity(layers);
        for i in 0..layers {
            let p = format!("blk.{i}");
            let up = matrix(&format!("{p}.ffn_up.weight"), 0, hidden)?;
            let ff = up.rows();
            layer_list.push(Layer {
                attn_norm: Vec::new(),
                wq: matrix(&format!("{p}.attn_q.weight"), hidden, hidden)?,
                wk: matrix(&format!("{p}.attn_k.weight"), kv, hidden)?,
                wv: matrix(&format!("{p}.attn_v.weight"), kv, hidden)?,
                bq: Vec::new(),
                bk: Vec::new(),
                bv: Vec::new(),
                wo: matrix(&format!("{p}.attn_output.weight"), hidden, hidden)?,
                ffn_norm: Vec::new(),
                gate: matrix(&format!("{p}.ffn_gate.weight"), ff, hidden)?,
                up,
                down: matrix(&format!("{p}.ffn_down.weight"), hidden, ff)?,
            });
        }
        let mut vector = |name: &str, len: usize| -> Result<Vec<f32>> {
            let v = ct
                .tensor(reader, name, &cpu)
                .with_context(|| format!("reading {name}"))?
                .dequantize(&cpu)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            if v.len() != len {
                bail!("{name} has {} values, expected {len}", v.len());
            }
            Ok(v)
        };
        for (i, l) in layer_list.iter_mut().enumerate() {
            let p = format!("blk.{i}");
            l.attn_norm = vector(&format!("{p}.attn_norm.weight"), hidden)?;
            l.ffn_norm = vector(&format!("{p}.ffn_norm.weight"), hidden)?;
            l.bq = vector(&format!("{p}.attn_q.bias"), hidden)?;
            l.bk = vector(&format!("{p}.attn_k.bias"), kv)?;
            l.bv = vector(&format!("{p}.attn_v.bias"), kv)?;
        }
        let norm = vector("output_norm.weight", hidden)?;
        Ok(Weights {
            config: Config {
                hidden,
                heads,
                kv_heads,
                head_dim,
                layers,
                context_length,
                vocab,
                rms_eps,
                rope_theta,
            },
            token_embd,
            output,
            norm,
            layers: layer_list,
        })
    }
}

/// One layer's keys and values, `[kv head][position][head dim]`, with room for `cap`
/// positions per head (a multiple of [`KEY_BLOCK`]); grows by doubling. The keys are also
/// kept transposed, `[kv head][head dim][position]`, for the attention kernel that scores
/// [`KEY_BLOCK`] keys with plain vector multiply-adds.
#[derive(Default)]
struct KvCache {
    k: Vec<f32>,
    /// The keys transposed; positions `len..cap` of each row are finite (zeros or keys of an
    /// earlier conversation).
    kt: Vec<f32>,
    v: Vec<f32>,
    len: usize,
    cap: usize,
}

/// Keys scored at once by the AVX-512 attention kernel.
const KEY_BLOCK: usize = 32;

impl KvCache {
    /// Appends `n` positions of `k`/`v` (`n × kv_heads × head_dim`, token-major).
    fn append(&mut self, k: &[f32], v: &[f32], n: usize, kv_heads: usize, hd: usize) {
        let need = self.len + n;
        if need > self.cap {
            let cap = need.max(self.cap * 2).max(64).next_multiple_of(KEY_BLOCK);
            for buf in [&mut self.k, &mut self.v] {
                let mut grown = vec![0f32; kv_heads * cap * hd];
                for g in 0..kv_heads {
                    let old = &buf[g * self.cap * hd..][..self.len * hd];
                    grown[g * cap * hd..][..self.len * hd].copy_from_slice(old);
                }
                *buf = grown;
            }
            let mut grown = vec![0f32; kv_heads * hd * cap];
            for row in 0..kv_heads * hd {
                grown[row * cap..][..self.len]
                    .copy_from_slice(&self.kt[row * self.cap..][..self.len]);
            }
            self.kt = grown;
            self.cap = cap;
        }
        for t in 0..n {
            for g in 0..kv_heads {
                let src = (t * kv_heads + g) * hd;
                let dst = (g * self.cap + self.len + t) * hd;
                self.k[dst..dst + hd].copy_from_slice(&k[src..src + hd]);
                self.v[dst..dst + hd].copy_from_slice(&v[src..src + hd]);
                for e in 0..hd {
                    self.kt[(g * hd + e) * self.cap + self.len + t] = k[src + e];
                }
            }
        }
        self.len = need;
    }

    /// Keys and values of KV head `g`, `len × head_dim` each.
    fn head(&self, g: usize, hd: usize) -> (&[f32], &[f32]) {
        let at = g * self.cap * hd;
        (
            &self.k[at..at + self.len * hd],
            &self.v[at..at + self.len * hd],
        )
    }

    /// The transposed keys of KV head `g`: `head_dim` rows of `cap` positions (the first `len`
    /// of each are keys).
    fn head_transposed(&self, g: usize, hd: usize) -> &[f32] {
        &self.kt[g * hd * self.cap..][..hd * self.cap]
    }

    fn clear(&mut self) {
        self.len = 0;
    }
}

/// One instance: shared weights plus its own KV cache.
pub struct Model {
    weights: Arc<Weights>,
    cache: Vec<KvCache>,
}

impl Model {
    pub fn new(weights: Arc<Weights>) -> Model {
        let cache = (0..weights.config.layers)
            .map(|_| KvCache::default())
            .collect();
        Model { weights, cache }
    }

    pub fn config(&self) -> &Config {
        &self.weights.config
    }

    /// Forgets the conversation; the cache keeps its memory for the next one.
    pub fn clear_kv_cache(&mut self) {
        self.cache.iter_mut().for_each(KvCache::clear);
    }

    /// Runs `tokens` at positions `pos..`, appending to the KV cache (which must hold exactly
    /// `pos` positions; `pos == 0` starts over), and returns the logits after the last token.
    pub fn forward(&mut self, tokens: &[u32], pos: usize) -> Result<Vec<f32>> {
        self.run(tokens, pos, true)
            .map(|logits| logits.expect("logits were asked for"))
    }

    /// Like [`Model::forward`] without the output projection: for prompt pieces whose logits
    /// nobody samples (the projection reads the whole vocabulary matrix).
    pub fn prefill(&mut self, tokens: &[u32], pos: usize) -> Result<()> {
        self.run(tokens, pos, false).map(drop)
    }

    fn run(&mut self, tokens: &[u32], pos: usize, logits: bool) -> Result<Option<Vec<f32>>> {
        if tokens.is_empty() {
            bail!("no tokens to run");
        }
        if pos == 0 {
            self.clear_kv_cache();
        }
        let cached = self.cache.first().map_or(0, |c| c.len);
        if cached != pos {
            bail!("position {pos} does not follow the {cached} cached positions");
        }
        let weights = Arc::clone(&self.weights);
        let cache = &mut self.cache;
        pool().install(|| forward(&weights, cache, tokens, pos, logits))
    }
}

/// Which matrices share an input: that input is quantised once for all of them.
fn quantize_for(ws: &[&QWeight], x: &[f32], m: usize, cols: usize) -> Option<Activations> {
    ws.iter()
        .any(|w| w.takes_q8())
        .then(|| Activations::quantize(x, m, cols))
}

fn forward(
    w: &Weights,
    cache: &mut [KvCache],
    tokens: &[u32],
    pos: usize,
    logits: bool,
) -> Result<Option<Vec<f32>>> {
    let c = &w.config;
    let (n, h, hd) = (tokens.len(), c.hidden, c.head_dim);
    let (qd, kvd) = (c.heads * hd, c.kv_heads * hd);
    let ff = w.layers.first().map_or(0, |l| l.up.rows());

    let mut x = vec![0f32; n * h];
    for (row, &id) in x.chunks_exact_mut(h).zip(tokens) {
        w.token_embd.row_into(id as usize, row)?;
    }
    let (cos, sin) = rope_table(c, pos, n);
    let mut xn = vec![0f32; n * h];
    let mut q = vec![0f32; n * qd];
    let mut k = vec![0f32; n * kvd];
    let mut v = vec![0f32; n * kvd];
    let mut att = vec![0f32; n * qd];
    let mut o = vec![0f32; n * h];
    let mut gate = vec![0f32; n * ff];
    let mut up = vec![0f32; n * ff];

    for (layer, kv) in w.layers.iter().zip(cache.iter_mut()) {
        // Attention.
        rms_norm(&x, &layer.attn_norm, c.rms_eps, &mut xn);
        let a = quantize_for(&[&layer.wq, &layer.wk, &layer.wv], &xn, n, h);
        layer.wq.matmul(&xn, a.as_ref(), n, &mut q)?;
        layer.wk.matmul(&xn, a.as_ref(), n, &mut k)?;
        layer.wv.matmul(&xn, a.as_ref(), n, &mut v)?;
        add_bias(&mut q, &layer.bq);
        add_bias(&mut k, &layer.bk);
        add_bias(&mut v, &layer.bv);
        rope(&mut q, hd, &cos, &sin);
        rope(&mut k, hd, &cos, &sin);
        kv.append(&k, &v, n, c.kv_heads, hd);
        attention(&q, kv, c, pos, &mut att);
        let a = quantize_for(&[&layer.wo], &att, n, qd);
        layer.wo.matmul(&att, a.as_ref(), n, &mut o)?;
        add_into(&mut x, &o);

        // Feed-forward.
        rms_norm(&x, &layer.ffn_norm, c.rms_eps, &mut xn);
        let a = quantize_for(&[&layer.gate, &layer.up], &xn, n, h);
        layer.gate.matmul(&xn, a.as_ref(), n, &mut gate)?;
        layer.up.matmul(&xn, a.as_ref(), n, &mut up)?;
        silu_mul(&mut gate, &up);
        let a = quantize_for(&[&layer.down], &gate, n, ff);
        layer.down.matmul(&gate, a.as_ref(), n, &mut o)?;
        add_into(&mut x, &o);
    }

    if !logits {
        return Ok(None);
    }
    let mut last = vec![0f32; h];
    rms_norm(&x[(n - 1) * h..], &w.norm, c.rms_eps, &mut last);
    let output = w.output.as_ref().unwrap_or(&w.token_embd);
    let a = quantize_for(&[output], &last, 1, h);
    let mut logits = vec![0f32; output.rows()];
    output.matmul(&last, a.as_ref(), 1, &mut logits)?;
    Ok(Some(logits))
}

/// Rotary-embedding cosines and sines for positions `pos..pos + n`, `n × head_dim / 2` each,
/// computed as candle does (f32 throughout).
fn rope_table(c: &Config, pos: usize, n: usize) -> (Vec<f32>, Vec<f32>) {
    let half = c.head_dim / 2;
    let theta: Vec<f32> = (0..c.head_dim)
        .step_by(2)
        .map(|i| 1f32 / c.rope_theta.powf(i as f32 / c.head_dim as f32))
        .collect();
    let mut cos = Vec::with_capacity(n * half);
    let mut sin = Vec::with_capacity(n * half);
    for p in pos..pos + n {
        for &t in &theta {
            let (s, co) = (p as f32 * t).sin_cos();
            cos.push(co);
            sin.push(s);
        }
    }
    (cos, sin)
}

/// Rotates each head of each token (NeoX / Hugging Face layout: pairs `i`, `i + head_dim / 2`).
fn rope(x: &mut [f32], hd: usize, cos: &[f32], sin: &[f32]) {
    let half = hd / 2;
    let n = cos.len() / half;
    let row = x.len() / n;
    x.par_chunks_mut(row).enumerate().for_each(|(t, r)| {
        let (cos, sin) = (&cos[t * half..][..half], &sin[t * half..][..half]);
        for head in r.chunks_exact_mut(hd) {
            let (a, b) = head.split_at_mut(half);
            for i in 0..half {
                let (x0, x1) = (a[i], b[i]);
                a[i] = x0 * cos[i] - x1 * sin[i];
                b[i] = x0 * sin[i] + x1 * cos[i];
            }
        }
    });
}

fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let h = weight.len();
    out.par_chunks_mut(h)
        .zip(x.par_chunks(h))
        .for_each(|(o, x)| {
            let ms = x.iter().map(|v| v * v).sum::<f32>() / h as f32;
            let scale = 1.0 / (ms + eps).sqrt();
            for ((o, &x), &w) in o.iter_mut().zip(x).zip(weight) {
                *o = x * scale * w;
            }
        });
}

fn add_bias(x: &mut [f32], bias: &[f32]) {
    for row in x.chunks_exact_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
}

fn add_into(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// `gate = silu(gate) · up`, element-wise.
fn silu_mul(gate: &mut [f32], up: &[f32]) {
    let level = Level::detect();
    gate.par_chunks_mut(4096)
        .zip(up.par_chunks(4096))
        .for_each(|(g, u)| {
            #[cfg(target_arch = "x86_64")]
            if level != Level::Scalar {
                // SAFETY: AVX2 and FMA were detected at run time.
                return unsafe { x86::silu_mul(g, u) };
            }
            let _ = level;
            for (g, &u) in g.iter_mut().zip(u) {
                *g = *g / (1.0 + (-*g).exp()) * u;
            }
        });
}

/// Causal attention of the `n` new queries (token-major, `n × heads × head_dim`) over the
/// cache, which already holds their own keys. Query head `h` reads KV head
/// `h / (heads / kv_heads)` in place.
fn attention(q: &[f32], kv: &KvCache, c: &Config, pos: usize, out: &mut [f32]) {
    attention_with(Level::detect(), q, kv, c, pos, out);
}

fn attention_with(level: Level, q: &[f32], kv: &KvCache, c: &Config, pos: usize, out: &mut [f32]) {
    let (hd, heads) = (c.head_dim, c.heads);
    let group = heads / c.kv_heads;
    let scale = 1.0 / (hd as f32).sqrt();
    #[cfg(target_arch = "x86_64")]
    if level == Level::Avx512Vnni && matches!(hd, 16 | 32 | 64 | 128) {
        // One task per (token, KV head): its `group` query heads share every key and value
        // load, keys come transposed (scores for 32 keys from plain multiply-adds).
        out.par_chunks_mut(group * hd)
            .zip(q.par_chunks(group * hd))
            .enumerate()
            .for_each_init(Vec::new, |scores, (i, (out, q))| {
                let (t, g) = (i / c.kv_heads, i % c.kv_heads);
                let len = pos + t + 1;
                let stride = len.next_multiple_of(KEY_BLOCK);
                let (_, v) = kv.head(g, hd);
                scores.clear();
                scores.resize(group * stride, 0f32);
                let keys = x86::KeysT {
                    kt: kv.head_transposed(g, hd),
                    cap: kv.cap,
                    len,
                };
                // SAFETY: AVX-512 F (with AVX2 and FMA) was detected at run time, or chosen by
                // a test from `Level::available`.
                unsafe { x86::attend_group(q, &keys, &v[..len * hd], scale, scores, out) };
            });
        return;
    }
    // Each (token, head) is one task.
    out.par_chunks_mut(hd)
        .enumerate()
        .for_each_init(Vec::new, |scores, (i, out)| {
            let (t, head) = (i / heads, i % heads);
            let len = pos + t + 1;
            let (k, v) = kv.head(head / group, hd);
            let (k, v) = (&k[..len * hd], &v[..len * hd]);
            let q = &q[i * hd..(i + 1) * hd];
            scores.clear();
            scores.resize(len, 0f32);
            #[cfg(target_arch = "x86_64")]
            if level != Level::Scalar {
                // SAFETY: AVX2 and FMA were detected at run time.
                return unsafe {
                    match hd {
                        16 => x86::attend_fixed::<16>(q, k, v, scale, scores, out),
                        32 => x86::attend_fixed::<32>(q, k, v, scale, scores, out),
                        64 => x86::attend_fixed::<64>(q, k, v, scale, scores, out),
                        128 => x86::attend_fixed::<128>(q, k, v, scale, scores, out),
                        _ => x86::attend(q, k, v, scale, scores, out),
                    }
                };
            }
            let _ = level;
            for (s, key) in scores.iter_mut().zip(k.chunks_exact(hd)) {
                *s = q.iter().zip(key).map(|(a, b)| a * b).sum::<f32>() * scale;
            }
            let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0f32;
            for s in scores.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            out.fill(0.0);
            for (&p, value) in scores.iter().zip(v.chunks_exact(hd)) {
                let p = p / sum;
                for (o, &x) in out.iter_mut().zip(value) {
                    *o += p * x;
                }
            }
        });
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    // SIMD intrinsics on checked slices; the caller has detected the target features.
    #![allow(unsafe_op_in_unsafe_fn)]
    use std::arch::x86_64::*;

    /// e^x for 8 lanes (Cephes' single-precision polynomial, as in ggml; ~1 ulp), clamped to
    /// f32's range.
    #[inline(always)]
    unsafe fn exp256(x: __m256) -> __m256 {
        let x = _mm256_min_ps(x, _mm256_set1_ps(88.376_26));
        let x = _mm256_max_ps(x, _mm256_set1_ps(-87.336_54));
        let fx = _mm256_fmadd_ps(
            x,
            _mm256_set1_ps(std::f32::consts::LOG2_E),
            _mm256_set1_ps(0.5),
        );
        let fx = _mm256_floor_ps(fx);
        let x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693_359_4), x);
        let x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.121_944_4e-4), x);
        let z = _mm256_mul_ps(x, x);
        let mut y = _mm256_set1_ps(1.987_569_1e-4);
        y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.398_2e-3));
        y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.333_452e-3));
        y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.166_579_6e-2));
        y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(0.166_666_65));
        y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(0.5));
        y = _mm256_fmadd_ps(y, z, _mm256_add_ps(x, _mm256_set1_ps(1.0)));
        let pow2 = _mm256_slli_epi32::<23>(_mm256_add_epi32(
            _mm256_cvttps_epi32(fx),
            _mm256_set1_epi32(127),
        ));
        _mm256_mul_ps(y, _mm256_castsi256_ps(pow2))
    }

    #[inline(always)]
    unsafe fn hsum(v: __m256) -> f32 {
        let s4 = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
        let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)))
    }

    /// e^x in place.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn exp_in_place(xs: &mut [f32]) {
        let mut chunks = xs.chunks_exact_mut(8);
        for c in &mut chunks {
            let p = c.as_mut_ptr();
            _mm256_storeu_ps(p, exp256(_mm256_loadu_ps(p)));
        }
        for x in chunks.into_remainder() {
            *x = x.exp();
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn silu_mul(g: &mut [f32], u: &[f32]) {
        let one = _mm256_set1_ps(1.0);
        let zero = _mm256_setzero_ps();
        let n8 = g.len() / 8 * 8;
        for i in (0..n8).step_by(8) {
            let x = _mm256_loadu_ps(g.as_ptr().add(i));
            let e = exp256(_mm256_sub_ps(zero, x));
            let s = _mm256_div_ps(x, _mm256_add_ps(one, e));
            _mm256_storeu_ps(
                g.as_mut_ptr().add(i),
                _mm256_mul_ps(s, _mm256_loadu_ps(u.as_ptr().add(i))),
            );
        }
        for i in n8..g.len() {
            g[i] = g[i] / (1.0 + (-g[i]).exp()) * u[i];
        }
    }

    /// The 8-lane partial sums of `q · key` over `lanes` × 8 values.
    #[inline(always)]
    unsafe fn dot_lanes(qv: &[__m256; 16], lanes: usize, key: *const f32) -> __m256 {
        let mut a = _mm256_mul_ps(qv[0], _mm256_loadu_ps(key));
        for (i, r) in qv.iter().enumerate().take(lanes).skip(1) {
            a = _mm256_fmadd_ps(*r, _mm256_loadu_ps(key.add(i * 8)), a);
        }
        a
    }

    /// [`attend`] for a head dimension known at compile time (a multiple of 8, at most 128):
    /// the query and the output stay in registers, and eight keys' scores are reduced at once.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn attend_fixed<const HD: usize>(
        q: &[f32],
        k: &[f32],
        v: &[f32],
        scale: f32,
        scores: &mut [f32],
        out: &mut [f32],
    ) {
        let lanes = HD / 8;
        assert!(HD.is_multiple_of(8) && lanes <= 16 && q.len() == HD && out.len() == HD);
        let len = scores.len();
        assert!(k.len() >= len * HD && v.len() >= len * HD);
        let mut qv = [_mm256_setzero_ps(); 16];
        for (i, r) in qv.iter_mut().enumerate().take(lanes) {
            *r = _mm256_loadu_ps(q.as_ptr().add(i * 8));
        }
        let vscale = _mm256_set1_ps(scale);
        let mut j = 0;
        while j + 8 <= len {
            let s: [__m256; 8] = [
                dot_lanes(&qv, lanes, k.as_ptr().add(j * HD)),
                dot_lanes(&qv, lanes, k.as_ptr().add((j + 1) * HD)),
                dot_lanes(&qv, lanes, k.as_ptr().add((j + 2) * HD)),
                dot_lanes(&qv, lanes, k.as_ptr().add((j + 3) * HD)),
                dot_lanes(&qv, lanes, k.as_ptr().add((j + 4) * HD)),
                dot_lanes(&qv, lanes, k.as_ptr().add((j + 5) * HD)),
                dot_lanes(&qv, lanes, k.as_ptr().add((j + 6) * HD)),
                dot_lanes(&qv, lanes, k.as_ptr().add((j + 7) * HD)),
            ];
            // Eight 8-lane sums → one vector of eight scores.
            let t0 = _mm256_hadd_ps(s[0], s[1]);
            let t1 = _mm256_hadd_ps(s[2], s[3]);
            let t2 = _mm256_hadd_ps(s[4], s[5]);
            let t3 = _mm256_hadd_ps(s[6], s[7]);
            let u0 = _mm256_hadd_ps(t0, t1);
            let u1 = _mm256_hadd_ps(t2, t3);
            let lo = _mm256_permute2f128_ps::<0x20>(u0, u1);
            let hi = _mm256_permute2f128_ps::<0x31>(u0, u1);
            _mm256_storeu_ps(
                scores.as_mut_ptr().add(j),
                _mm256_mul_ps(_mm256_add_ps(lo, hi), vscale),
            );
            j += 8;
        }
        for (jj, s) in scores.iter_mut().enumerate().skip(j) {
            *s = hsum(dot_lanes(&qv, lanes, k.as_ptr().add(jj * HD))) * scale;
        }
        let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for s in scores.iter_mut() {
            *s -= max;
        }
        exp_in_place(scores);
        let inv = 1.0 / scores.iter().sum::<f32>();
        let mut o = [_mm256_setzero_ps(); 16];
        for (jj, &p) in scores.iter().enumerate() {
            let pv = _mm256_set1_ps(p * inv);
            let value = v.as_ptr().add(jj * HD);
            for (i, r) in o.iter_mut().enumerate().take(lanes) {
                *r = _mm256_fmadd_ps(pv, _mm256_loadu_ps(value.add(i * 8)), *r);
            }
        }
        for (i, r) in o.iter().enumerate().take(lanes) {
            _mm256_storeu_ps(out.as_mut_ptr().add(i * 8), *r);
        }
    }

    /// One KV head's keys, transposed: `head_dim` rows of `cap` positions, the first `len`
    /// of which are attended to; `cap` is a multiple of [`super::KEY_BLOCK`].
    pub(super) struct KeysT<'a> {
        pub kt: &'a [f32],
        pub cap: usize,
        pub len: usize,
    }

    /// The `group` queries in `q` (`group × head_dim`, head dimension 16, 32, 64 or 128)
    /// against the same keys and values (`len × head_dim`): scores into `scores` (`group` rows
    /// of `len` rounded up to [`super::KEY_BLOCK`]), softmax, weighted sums into `out`.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub(super) unsafe fn attend_group(
        q: &[f32],
        keys: &KeysT,
        v: &[f32],
        scale: f32,
        scores: &mut [f32],
        out: &mut [f32],
    ) {
        let hd = keys.kt.len() / keys.cap;
        let (len, stride) = (keys.len, keys.len.next_multiple_of(super::KEY_BLOCK));
        let group = q.len() / hd;
        assert!(matches!(hd, 16 | 32 | 64 | 128) && q.len() == group * hd);
        assert!(keys.cap.is_multiple_of(super::KEY_BLOCK) && stride <= keys.cap);
        assert!(scores.len() == group * stride && out.len() == q.len() && v.len() == len * hd);
        let mut qi = 0;
        while qi < group {
            let qn = (group - qi).min(8);
            let (q, s) = (&q[qi * hd..], &mut scores[qi * stride..]);
            match qn {
                8 => scores_block::<8>(q, keys, scale, s),
                7 => scores_block::<7>(q, keys, scale, s),
                6 => scores_block::<6>(q, keys, scale, s),
                5 => scores_block::<5>(q, keys, scale, s),
                4 => scores_block::<4>(q, keys, scale, s),
                3 => scores_block::<3>(q, keys, scale, s),
                2 => scores_block::<2>(q, keys, scale, s),
                _ => scores_block::<1>(q, keys, scale, s),
            }
            qi += qn;
        }
        for row in scores.chunks_exact_mut(stride) {
            let row = &mut row[..len];
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            for s in row.iter_mut() {
                *s -= max;
            }
            exp_in_place(row);
            let inv = 1.0 / row.iter().sum::<f32>();
            for s in row.iter_mut() {
                *s *= inv;
            }
        }
        match hd {
            16 => weighted_sums::<1>(scores, stride, v, len, out),
            32 => weighted_sums::<2>(scores, stride, v, len, out),
            64 => weighted_sums::<4>(scores, stride, v, len, out),
            _ => weighted_sums::<8>(scores, stride, v, len, out),
        }
    }

    /// Scaled scores of `QN` queries against all keys, 32 keys at a time: for each head
    /// element, two 16-key vectors of the transposed keys times the query's element.
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn scores_block<const QN: usize>(
        q: &[f32],
        keys: &KeysT,
        scale: f32,
        scores: &mut [f32],
    ) {
        let (cap, len) = (keys.cap, keys.len);
        let hd = keys.kt.len() / cap;
        let stride = len.next_multiple_of(super::KEY_BLOCK);
        assert!(q.len() >= QN * hd && scores.len() >= (QN - 1) * stride + stride);
        let vs = _mm512_set1_ps(scale);
        for j0 in (0..len).step_by(super::KEY_BLOCK) {
            let mut acc = [[_mm512_setzero_ps(); 2]; QN];
            for e in 0..hd {
                // j0 + 32 ≤ stride ≤ cap: inside row e.
                let row = keys.kt.as_ptr().add(e * cap + j0);
                let k0 = _mm512_loadu_ps(row);
                let k1 = _mm512_loadu_ps(row.add(16));
                for (i, a) in acc.iter_mut().enumerate() {
                    let qe = _mm512_set1_ps(*q.get_unchecked(i * hd + e));
                    a[0] = _mm512_fmadd_ps(qe, k0, a[0]);
                    a[1] = _mm512_fmadd_ps(qe, k1, a[1]);
                }
            }
            for (i, a) in acc.iter().enumerate() {
                let dst = scores.as_mut_ptr().add(i * stride + j0);
                _mm512_storeu_ps(dst, _mm512_mul_ps(a[0], vs));
                _mm512_storeu_ps(dst.add(16), _mm512_mul_ps(a[1], vs));
            }
        }
    }

    /// `out[i] = Σ_j p[i][j] · v[j]` for every query row `i` of `p` (rows `stride` apart),
    /// head dimension `16 V`; several queries share each value row's loads.
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn weighted_sums<const V: usize>(
        p: &[f32],
        stride: usize,
        v: &[f32],
        len: usize,
        out: &mut [f32],
    ) {
        let hd = V * 16;
        let group = out.len() / hd;
        // At most 16 accumulators.
        let most = (16 / V).min(8);
        let mut qi = 0;
        while qi < group {
            let qp = (group - qi).min(most);
            let (p, out) = (&p[qi * stride..], &mut out[qi * hd..]);
            match qp {
                8 => weighted_sum::<V, 8>(p, stride, v, len, out),
                7 => weighted_sum::<V, 7>(p, stride, v, len, out),
                6 => weighted_sum::<V, 6>(p, stride, v, len, out),
                5 => weighted_sum::<V, 5>(p, stride, v, len, out),
                4 => weighted_sum::<V, 4>(p, stride, v, len, out),
                3 => weighted_sum::<V, 3>(p, stride, v, len, out),
                2 => weighted_sum::<V, 2>(p, stride, v, len, out),
                _ => weighted_sum::<V, 1>(p, stride, v, len, out),
            }
            qi += qp;
        }
    }

    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn weighted_sum<const V: usize, const QP: usize>(
        p: &[f32],
        stride: usize,
        v: &[f32],
        len: usize,
        out: &mut [f32],
    ) {
        let hd = V * 16;
        assert!(p.len() >= (QP - 1) * stride + len && v.len() >= len * hd);
        assert!(out.len() >= QP * hd);
        let mut acc = [[_mm512_setzero_ps(); V]; QP];
        for j in 0..len {
            let row = v.as_ptr().add(j * hd);
            let mut vv = [_mm512_setzero_ps(); V];
            for (c, r) in vv.iter_mut().enumerate() {
                *r = _mm512_loadu_ps(row.add(c * 16));
            }
            for (i, a) in acc.iter_mut().enumerate() {
                let pj = _mm512_set1_ps(*p.get_unchecked(i * stride + j));
                for (r, x) in a.iter_mut().zip(&vv) {
                    *r = _mm512_fmadd_ps(pj, *x, *r);
                }
            }
        }
        for (i, a) in acc.iter().enumerate() {
            for (c, r) in a.iter().enumerate() {
                _mm512_storeu_ps(out.as_mut_ptr().add(i * hd + c * 16), *r);
            }
        }
    }

    /// One query against `len` keys and values: scores, softmax, weighted sum into `out`.
    /// `head_dim` (`q.len()`) is a multiple of 8 or handled by the scalar tail.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn attend(
        q: &[f32],
        k: &[f32],
        v: &[f32],
        scale: f32,
        scores: &mut [f32],
        out: &mut [f32],
    ) {
        let hd = q.len();
        let h8 = hd / 8 * 8;
        for (j, s) in scores.iter_mut().enumerate() {
            let key = &k[j * hd..(j + 1) * hd];
            let mut acc0 = _mm256_setzero_ps();
            let mut acc1 = _mm256_setzero_ps();
            let mut i = 0;
            while i + 16 <= h8 {
                acc0 = _mm256_fmadd_ps(
                    _mm256_loadu_ps(q.as_ptr().add(i)),
                    _mm256_loadu_ps(key.as_ptr().add(i)),
                    acc0,
                );
                acc1 = _mm256_fmadd_ps(
                    _mm256_loadu_ps(q.as_ptr().add(i + 8)),
                    _mm256_loadu_ps(key.as_ptr().add(i + 8)),
                    acc1,
                );
                i += 16;
            }
            if i < h8 {
                acc0 = _mm256_fmadd_ps(
                    _mm256_loadu_ps(q.as_ptr().add(i)),
                    _mm256_loadu_ps(key.as_ptr().add(i)),
                    acc0,
                );
            }
            let mut dot = hsum(_mm256_add_ps(acc0, acc1));
            for t in h8..hd {
                dot += q[t] * key[t];
            }
            *s = dot * scale;
        }
        let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for s in scores.iter_mut() {
            *s -= max;
        }
        exp_in_place(scores);
        let sum: f32 = scores.iter().sum();
        let inv = 1.0 / sum;
        out.fill(0.0);
        for (j, &p) in scores.iter().enumerate() {
            let value = &v[j * hd..(j + 1) * hd];
            let pv = _mm256_set1_ps(p * inv);
            let mut i = 0;
            while i < h8 {
                let o = out.as_mut_ptr().add(i);
                _mm256_storeu_ps(
                    o,
                    _mm256_fmadd_ps(
                        pv,
                        _mm256_loadu_ps(value.as_ptr().add(i)),
                        _mm256_loadu_ps(o),
                    ),
                );
                i += 8;
            }
            for t in h8..hd {
                out[t] += p * inv * value[t];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_cache_grows_and_keeps_heads_apart() {
        let (heads, hd) = (2, 4);
        let mut c = KvCache::default();
        // Token t, head g, element e = 100 t + 10 g + e.
        let rows = |from: usize, n: usize| -> Vec<f32> {
            (from..from + n)
                .flat_map(|t| {
                    (0..heads)
                        .flat_map(move |g| (0..hd).map(move |e| (100 * t + 10 * g + e) as f32))
                })
                .collect()
        };
        c.append(&rows(0, 50), &rows(0, 50), 50, heads, hd);
        c.append(&rows(50, 30), &rows(50, 30), 30, heads, hd);
        assert_eq!(c.len, 80);
        for g in 0..heads {
            let (k, v) = c.head(g, hd);
            assert_eq!(k.len(), 80 * hd);
            let kt = c.head_transposed(g, hd);
            assert_eq!(kt.len(), hd * c.cap);
            assert!(c.cap.is_multiple_of(KEY_BLOCK));
            for t in 0..80 {
                assert_eq!(k[t * hd + 3], (100 * t + 10 * g + 3) as f32);
                assert_eq!(v[t * hd], (100 * t + 10 * g) as f32);
                for e in 0..hd {
                    assert_eq!(kt[e * c.cap + t], k[t * hd + e], "g{g} t{t} e{e}");
                }
            }
        }
        c.clear();
        assert_eq!(c.head(1, hd).0.len(), 0);
    }

    #[test]
    fn vector_exp_and_silu_match_the_scalar_ones() {
        if Level::detect() == Level::Scalar {
            return;
        }
        let xs: Vec<f32> = (0..203).map(|i| (i as f32 - 101.0) * 0.37).collect();
        let mut e = xs.clone();
        // SAFETY: checked above that AVX2 and FMA are there.
        unsafe { x86::exp_in_place(&mut e) };
        for (x, got) in xs.iter().zip(&e) {
            let want = x.exp();
            assert!(
                (got - want).abs() <= want * 2e-6,
                "exp({x}) = {got}, not {want}"
            );
        }
        let up: Vec<f32> = xs.iter().map(|x| 1.0 - x).collect();
        let mut g = xs.clone();
        silu_mul(&mut g, &up);
        for ((x, u), got) in xs.iter().zip(&up).zip(&g) {
            let want = x / (1.0 + (-x).exp()) * u;
            assert!(
                (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                "silu({x})·{u}"
            );
        }
    }

    /// Every attention kernel this CPU runs against the plain formula on random data: head
    /// dimensions with and without a fixed-size kernel, query groups of 1, 2 and 7 (Qwen2.5's
    /// 14 heads over 2 KV heads, split 4 + 3 for the weighted sums), key counts below, at and
    /// past 32-key blocks, one new token (generation) and several (a prompt piece).
    #[test]
    fn attention_matches_the_plain_formula() {
        let mut s = 12345u32;
        let mut rnd = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (s >> 8) as f32 / (1 << 24) as f32 - 0.5
                })
                .collect()
        };
        for (hd, heads, kv_heads, pos, n) in [
            (16, 4, 2, 13, 3),
            (64, 14, 2, 40, 5),
            (64, 14, 2, 70, 1),
            (32, 3, 3, 0, 33),
            (128, 4, 2, 30, 2),
            (24, 4, 1, 9, 2),
        ] {
            let c = Config {
                hidden: heads * hd,
                heads,
                kv_heads,
                head_dim: hd,
                layers: 1,
                context_length: 256,
                vocab: 8,
                rms_eps: 1e-6,
                rope_theta: 10_000.0,
            };
            let group = heads / kv_heads;
            let mut kv = KvCache::default();
            let kvd = kv_heads * hd;
            if pos > 0 {
                kv.append(&rnd(pos * kvd), &rnd(pos * kvd), pos, kv_heads, hd);
            }
            kv.append(&rnd(n * kvd), &rnd(n * kvd), n, kv_heads, hd);
            // Large enough for a peaked softmax.
            let q: Vec<f32> = rnd(n * c.hidden).iter().map(|x| x * 8.0).collect();
            for level in Level::available() {
                let mut got = vec![f32::NAN; n * c.hidden];
                pool().install(|| attention_with(level, &q, &kv, &c, pos, &mut got));
                for t in 0..n {
                    for h in 0..heads {
                        let (k, v) = kv.head(h / group, hd);
                        let qv = &q[(t * heads + h) * hd..][..hd];
                        let len = pos + t + 1;
                        let s: Vec<f32> = (0..len)
                            .map(|j| {
                                (0..hd).map(|e| qv[e] * k[j * hd + e]).sum::<f32>()
                                    / (hd as f32).sqrt()
                            })
                            .collect();
                        let max = s.iter().copied().fold(f32::MIN, f32::max);
                        let sum: f32 = s.iter().map(|x| (x - max).exp()).sum();
                        for e in 0..hd {
                            let want: f32 = (0..len)
                                .map(|j| (s[j] - max).exp() / sum * v[j * hd + e])
                                .sum();
                            let have = got[(t * heads + h) * hd + e];
                            assert!(
                                (have - want).abs() < 2e-5,
                                "hd{hd} {level:?} t{t} h{h} e{e}: {have} vs {want}"
                            );
                        }
                    }
                }
            }
        }
    }
}
