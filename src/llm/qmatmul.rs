//! Quantised matrix products for the GGUF model ([`super::qwen2_gguf`]): `x · Wᵀ` for a weight
//! matrix `W` (rows = outputs) stored in llama.cpp's Q4_0 or Q8_0 blocks and a batch of f32
//! activation rows (tokens).
//!
//! The activation rows are quantised once to Q8_0 ([`Activations`]) and then every tile of
//! 4 weight rows × up to 4 tokens is computed in one pass over the blocks, so a weight row is
//! read from memory once per 4 tokens rather than once per token (candle's generic quantised
//! matmul computes each dot product separately). The same structure as llama.cpp's llamafile
//! "tinyBLAS" Q0 kernels. Work is split over weight-row ranges on the model's thread pool
//! ([`pool`]).
//!
//! Three implementations of the same arithmetic, chosen at run time with
//! `is_x86_feature_detected!` (never assumed from the build target; AMX is never used):
//! - AVX-512 VNNI: two 32-value blocks per 512-bit register; weights as unsigned bytes (Q4_0
//!   nibbles as stored, Q8_0 offset by 128) times signed activations with `vpdpbusd`, the offset
//!   taken back out through the activation block sums loaded as the accumulator's start value;
//! - AVX2 + FMA: one block per 256-bit register, signs moved onto the activations
//!   (`vpsignb`) so `vpmaddubsw` sees an unsigned operand;
//! - portable scalar code, which the tests hold the others to.
//!
//! Other quantisation types (Q4_K, Q6_K, F16, …) keep candle's own `QTensor` matmul.

use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result, bail};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use half::f16;
use rayon::prelude::*;

/// Values per quantisation block (Q4_0, Q8_0).
pub const QK: usize = 32;
/// Weight rows per tile.
const TILE_ROWS: usize = 4;
/// Tokens per tile.
const TILE_TOKENS: usize = 4;
/// Tokens whose quantised activations a worker walks through before moving to its next rows:
/// 64 tokens of a 4864-wide row are ~1 MB, which stays in L2 while the rows stream by.
const TOKEN_BLOCK: usize = 64;

/// The thread pool every model computation runs on: `CANDLE_NUM_THREADS` /
/// `RAYON_NUM_THREADS` threads (candle's own rule), else one per physical core. Separate from
/// rayon's global pool so other work in the process (indexing, OCR) neither slows nor is
/// slowed by a generation's fan-out.
pub fn pool() -> &'static rayon::ThreadPool {
    static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::env::var("CANDLE_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(candle_core::utils::get_num_threads);
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("xiaoban-llm-{i}"))
            .build()
            .expect("building the model's thread pool")
    })
}

/// The instruction set a kernel runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Scalar,
    Avx2,
    Avx512Vnni,
}

impl Level {
    /// The best level this CPU has.
    pub(crate) fn detect() -> Level {
        static LEVEL: OnceLock<Level> = OnceLock::new();
        *LEVEL.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            {
                if is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512vl")
                    && is_x86_feature_detected!("avx512vnni")
                {
                    return Level::Avx512Vnni;
                }
                if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                    return Level::Avx2;
                }
            }
            Level::Scalar
        })
    }

    /// Every level this CPU can run, for tests.
    #[cfg(test)]
    pub(crate) fn available() -> Vec<Level> {
        let best = Level::detect();
        [Level::Scalar, Level::Avx2, Level::Avx512Vnni]
            .into_iter()
            .filter(|&l| l as u8 <= best as u8)
            .collect()
    }
}

/// The two block formats with fast kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blocks {
    /// 4-bit: 16 bytes per block, byte `j` holds value `j` (low nibble) and `j + 16` (high),
    /// each stored plus 8.
    Q4_0,
    /// 8-bit: 32 signed bytes per block.
    Q8_0,
}

impl Blocks {
    fn bytes(self) -> usize {
        match self {
            Blocks::Q4_0 => QK / 2,
            Blocks::Q8_0 => QK,
        }
    }
}

enum Repr {
    /// Q4_0 / Q8_0, the scales widened to f32 and kept apart from the quants so that blocks
    /// load aligned and back to back.
    Fast {
        blocks: Blocks,
        /// `rows × blocks_per_row` scales.
        scales: Vec<f32>,
        /// `rows × blocks_per_row × blocks.bytes()` quants.
        quants: Vec<u8>,
    },
    /// Any other type: candle's quantised matmul, and (only if rows are asked for) the matrix
    /// dequantised once.
    Candle {
        tensor: Arc<QTensor>,
        dense: OnceLock<Vec<f32>>,
    },
}

/// A quantised weight matrix, `rows` outputs × `cols` inputs.
pub struct QWeight {
    rows: usize,
    cols: usize,
    repr: Repr,
}

impl QWeight {
    /// Takes over a 2-D quantised tensor (GGUF order: `(rows, cols)`).
    pub fn new(tensor: QTensor) -> Result<QWeight> {
        let (rows, cols) = tensor
            .shape()
            .dims2()
            .context("a weight matrix must have two dimensions")?;
        let blocks = match tensor.dtype() {
            GgmlDType::Q4_0 => Some(Blocks::Q4_0),
            GgmlDType::Q8_0 => Some(Blocks::Q8_0),
            _ => None,
        };
        let Some(blocks) = blocks.filter(|_| cols % QK == 0) else {
            return Ok(QWeight {
                rows,
                cols,
                repr: Repr::Candle {
                    tensor: Arc::new(tensor),
                    dense: OnceLock::new(),
                },
            });
        };
        let raw = tensor.data()?;
        let block_bytes = 2 + blocks.bytes();
        let n_blocks = rows * cols / QK;
        if raw.len() != n_blocks * block_bytes {
            bail!(
                "{:?} tensor of {rows}×{cols} has {} bytes, expected {}",
                tensor.dtype(),
                raw.len(),
                n_blocks * block_bytes
            );
        }
        let mut scales = Vec::with_capacity(n_blocks);
        let mut quants = Vec::with_capacity(n_blocks * blocks.bytes());
        for block in raw.chunks_exact(block_bytes) {
            scales.push(f16::from_le_bytes([block[0], block[1]]).to_f32());
            quants.extend_from_slice(&block[2..]);
        }
        Ok(QWeight {
            rows,
            cols,
            repr: Repr::Fast {
                blocks,
                scales,
                quants,
            },
        })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Whether products with this matrix take quantised activations ([`Activations`]).
    pub fn takes_q8(&self) -> bool {
        matches!(self.repr, Repr::Fast { .. })
    }

    /// Row `row`, dequantised into `out` (`cols` values): an embedding lookup.
    pub fn row_into(&self, row: usize, out: &mut [f32]) -> Result<()> {
        if row >= self.rows {
            bail!("token id {row} is outside the vocabulary of {}", self.rows);
        }
        let out = &mut out[..self.cols];
        match &self.repr {
            Repr::Fast {
                blocks,
                scales,
                quants,
            } => {
                let per_row = self.cols / QK;
                let bytes = blocks.bytes();
                for b in 0..per_row {
                    let i = row * per_row + b;
                    let d = scales[i];
                    let q = &quants[i * bytes..(i + 1) * bytes];
                    let dst = &mut out[b * QK..(b + 1) * QK];
                    match blocks {
                        Blocks::Q4_0 => {
                            for j in 0..QK / 2 {
                                dst[j] = d * ((q[j] & 0x0f) as i32 - 8) as f32;
                                dst[j + QK / 2] = d * ((q[j] >> 4) as i32 - 8) as f32;
                            }
                        }
                        Blocks::Q8_0 => {
                            for (o, &v) in dst.iter_mut().zip(q) {
                                *o = d * (v as i8) as f32;
                            }
                        }
                    }
                }
            }
            Repr::Candle { tensor, dense } => {
                let dense = match dense.get() {
                    Some(d) => d,
                    None => {
                        let values = tensor
                            .dequantize(&Device::Cpu)?
                            .flatten_all()?
                            .to_vec1::<f32>()?;
                        dense.get_or_init(|| values)
                    }
                };
                out.copy_from_slice(&dense[row * self.cols..(row + 1) * self.cols]);
            }
        }
        Ok(())
    }

    /// `out[t][r] = Σ_c x[t][c] · W[r][c]` for the `m` rows of `x` (`m × cols`, row-major);
    /// `out` is `m × rows`. `q8` must be `x` quantised when [`QWeight::takes_q8`] holds.
    /// Call from inside [`pool`].
    pub fn matmul(
        &self,
        x: &[f32],
        q8: Option<&Activations>,
        m: usize,
        out: &mut [f32],
    ) -> Result<()> {
        assert_eq!(x.len(), m * self.cols, "input shape");
        assert_eq!(out.len(), m * self.rows, "output shape");
        match &self.repr {
            Repr::Fast {
                blocks,
                scales,
                quants,
            } => {
                let acts = q8.context("quantised activations missing")?;
                assert_eq!((acts.rows, acts.cols), (m, self.cols), "activation shape");
                let level = Level::detect();
                self.fast_matmul(level, *blocks, scales, quants, acts, out);
            }
            Repr::Candle { tensor, .. } => {
                let xs = Tensor::from_slice(x, (m, self.cols), &Device::Cpu)?;
                let ys = xs.apply_op1_no_bwd(tensor.as_ref())?;
                out.copy_from_slice(&ys.flatten_all()?.to_vec1::<f32>()?);
            }
        }
        Ok(())
    }

    fn fast_matmul(
        &self,
        level: Level,
        blocks: Blocks,
        scales: &[f32],
        quants: &[u8],
        acts: &Activations,
        out: &mut [f32],
    ) {
        let n = self.rows;
        let m = acts.rows;
        let per_row = self.cols / QK;
        // The 512-bit kernel takes blocks in pairs.
        let level = if level == Level::Avx512Vnni && per_row % 2 == 1 {
            Level::Avx2
        } else {
            level
        };
        let w = WeightRef {
            blocks,
            per_row,
            scales,
            quants,
        };
        // Enough row ranges for the pool to balance, each a whole number of tiles.
        let threads = rayon::current_num_threads().max(1);
        let tiles = n.div_ceil(TILE_ROWS);
        let tiles_per_task = tiles.div_ceil(threads * 8).max(1);
        let rows_per_task = tiles_per_task * TILE_ROWS;
        let dst = OutPtr(out.as_mut_ptr());
        (0..n.div_ceil(rows_per_task))
            .into_par_iter()
            .for_each(|task| {
                let r0 = task * rows_per_task;
                let r1 = (r0 + rows_per_task).min(n);
                for t0 in (0..m).step_by(TOKEN_BLOCK) {
                    let t1 = (t0 + TOKEN_BLOCK).min(m);
                    for r in (r0..r1).step_by(TILE_ROWS) {
                        let rm = (r1 - r).min(TILE_ROWS);
                        for t in (t0..t1).step_by(TILE_TOKENS) {
                            let tn = (t1 - t).min(TILE_TOKENS);
                            let mut tile = [[0f32; TILE_TOKENS]; TILE_ROWS];
                            tile_dispatch(level, &w, acts, r, rm, t, tn, &mut tile);
                            for (i, row) in tile.iter().enumerate().take(rm) {
                                for (j, &v) in row.iter().enumerate().take(tn) {
                                    // SAFETY: (t + j, r + i) is inside the m × n output, and
                                    // each task writes only its own rows r0..r1.
                                    unsafe { dst.write((t + j) * n + r + i, v) };
                                }
                            }
                        }
                    }
                }
            });
    }
}

/// The output buffer shared by the workers; each writes a disjoint set of elements.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: workers write disjoint elements (see `fast_matmul`) and the buffer outlives them.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    /// # Safety
    /// `i` is in bounds and no other thread touches element `i`.
    unsafe fn write(self, i: usize, v: f32) {
        unsafe { *self.0.add(i) = v };
    }
}

struct WeightRef<'a> {
    blocks: Blocks,
    per_row: usize,
    scales: &'a [f32],
    quants: &'a [u8],
}

/// Activation rows quantised to Q8_0 (scale per 32 values, f32 here), with what the kernels
/// need besides: each block's scale repeated over 8 lanes, and minus the block's sum in lane 0
/// of 8 (the start value that takes the weights' unsigned offset back out).
pub struct Activations {
    rows: usize,
    cols: usize,
    /// `rows × cols` signed quants.
    q: Vec<i8>,
    /// `rows × blocks × 8`: the block scale, 8 times.
    d8: Vec<f32>,
    /// `rows × blocks × 8`: minus the block's quant sum, then 7 zeros.
    neg_sum8: Vec<i32>,
}

impl Activations {
    /// Quantises `m` rows of `cols` values (a multiple of 32). Call from inside [`pool`].
    pub fn quantize(x: &[f32], m: usize, cols: usize) -> Activations {
        Activations::quantize_with(Level::detect(), x, m, cols)
    }

    fn quantize_with(level: Level, x: &[f32], m: usize, cols: usize) -> Activations {
        assert!(
            cols.is_multiple_of(QK) && x.len() == m * cols,
            "activation shape"
        );
        let blocks = cols / QK;
        let mut q = vec![0i8; m * cols];
        let mut d8 = vec![0f32; m * blocks * 8];
        let mut neg_sum8 = vec![0i32; m * blocks * 8];
        q.par_chunks_mut(QK)
            .zip(d8.par_chunks_mut(8))
            .zip(neg_sum8.par_chunks_mut(8))
            .zip(x.par_chunks(QK))
            .with_min_len(64)
            .for_each(|(((q, d8), s8), x)| {
                let (d, sum) = quantize_block(level, x, q);
                d8.fill(d);
                s8[0] = -sum;
            });
        Activations {
            rows: m,
            cols,
            q,
            d8,
            neg_sum8,
        }
    }
}

/// One block to Q8_0: `d = max|x| / 127`, `q = round(x / d)`. Returns `d` and `Σ q`.
fn quantize_block(level: Level, x: &[f32], q: &mut [i8]) -> (f32, i32) {
    #[cfg(target_arch = "x86_64")]
    if level != Level::Scalar {
        // SAFETY: AVX2 was detected at run time (both SIMD levels include it).
        return unsafe { x86::quantize_block_avx2(x, q) };
    }
    let _ = level;
    let amax = x.iter().fold(0f32, |a, v| a.max(v.abs()));
    let d = amax / 127.0;
    let id = if d > 0.0 { 1.0 / d } else { 0.0 };
    let mut sum = 0;
    for (q, &v) in q.iter_mut().zip(x) {
        let r = (v * id).round_ties_even() as i32;
        *q = r as i8;
        sum += r;
    }
    (d, sum)
}

/// Computes the `rm × tn` tile at weight row `r`, token `t`.
#[allow(clippy::too_many_arguments)]
fn tile_dispatch(
    level: Level,
    w: &WeightRef,
    a: &Activations,
    r: usize,
    rm: usize,
    t: usize,
    tn: usize,
    tile: &mut [[f32; TILE_TOKENS]; TILE_ROWS],
) {
    macro_rules! dispatch {
        ($($f:ident)::+) => {
            match (rm, tn) {
                (4, 4) => $($f)::+::<4, 4>(w, a, r, t, tile),
                (4, 3) => $($f)::+::<4, 3>(w, a, r, t, tile),
                (4, 2) => $($f)::+::<4, 2>(w, a, r, t, tile),
                (4, 1) => $($f)::+::<4, 1>(w, a, r, t, tile),
                (3, 4) => $($f)::+::<3, 4>(w, a, r, t, tile),
                (3, 3) => $($f)::+::<3, 3>(w, a, r, t, tile),
                (3, 2) => $($f)::+::<3, 2>(w, a, r, t, tile),
                (3, 1) => $($f)::+::<3, 1>(w, a, r, t, tile),
                (2, 4) => $($f)::+::<2, 4>(w, a, r, t, tile),
                (2, 3) => $($f)::+::<2, 3>(w, a, r, t, tile),
                (2, 2) => $($f)::+::<2, 2>(w, a, r, t, tile),
                (2, 1) => $($f)::+::<2, 1>(w, a, r, t, tile),
                (1, 4) => $($f)::+::<1, 4>(w, a, r, t, tile),
                (1, 3) => $($f)::+::<1, 3>(w, a, r, t, tile),
                (1, 2) => $($f)::+::<1, 2>(w, a, r, t, tile),
                _ => $($f)::+::<1, 1>(w, a, r, t, tile),
            }
        };
    }
    match level {
        Level::Scalar => dispatch!(tile_scalar),
        // SAFETY: the level was detected at run time (`Level::detect`), or chosen by a test
        // from `Level::available`.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { dispatch!(x86::tile_avx2) },
        #[cfg(target_arch = "x86_64")]
        Level::Avx512Vnni => unsafe { dispatch!(x86::tile_avx512) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => dispatch!(tile_scalar),
    }
}

/// The reference: plain integer dot products per block, scaled and summed in f32.
fn tile_scalar<const RM: usize, const TN: usize>(
    w: &WeightRef,
    a: &Activations,
    r: usize,
    t: usize,
    tile: &mut [[f32; TILE_TOKENS]; TILE_ROWS],
) {
    let bytes = w.blocks.bytes();
    for (i, tile_row) in tile.iter_mut().enumerate().take(RM) {
        for (j, out) in tile_row.iter_mut().enumerate().take(TN) {
            let mut acc = 0f32;
            for b in 0..w.per_row {
                let wi = (r + i) * w.per_row + b;
                let wq = &w.quants[wi * bytes..(wi + 1) * bytes];
                let ai = (t + j) * w.per_row + b;
                let aq = &a.q[ai * QK..(ai + 1) * QK];
                let dot: i32 = match w.blocks {
                    Blocks::Q4_0 => (0..QK / 2)
                        .map(|k| {
                            ((wq[k] & 0x0f) as i32 - 8) * aq[k] as i32
                                + ((wq[k] >> 4) as i32 - 8) * aq[k + QK / 2] as i32
                        })
                        .sum(),
                    Blocks::Q8_0 => wq
                        .iter()
                        .zip(aq)
                        .map(|(&x, &y)| (x as i8) as i32 * y as i32)
                        .sum(),
                };
                acc += w.scales[wi] * a.d8[ai * 8] * dot as f32;
            }
            *out = acc;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    // Every function here is SIMD intrinsics on checked slices; one `unsafe` per function (its
    // target features, which the caller has detected) says what needs saying.
    #![allow(unsafe_op_in_unsafe_fn)]
    // Register tiles are indexed [row][token] in fully unrolled loops.
    #![allow(clippy::needless_range_loop)]
    use super::{Activations, Blocks, QK, TILE_ROWS, TILE_TOKENS, WeightRef};
    use std::arch::x86_64::*;

    /// See `super::quantize_block`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn quantize_block_avx2(x: &[f32], q: &mut [i8]) -> (f32, i32) {
        assert!(x.len() == QK && q.len() == QK);
        let p = x.as_ptr();
        let v = [
            _mm256_loadu_ps(p),
            _mm256_loadu_ps(p.add(8)),
            _mm256_loadu_ps(p.add(16)),
            _mm256_loadu_ps(p.add(24)),
        ];
        let sign = _mm256_set1_ps(-0.0);
        let mut amax = _mm256_andnot_ps(sign, v[0]);
        for x in &v[1..] {
            amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, *x));
        }
        let m4 = _mm_max_ps(_mm256_extractf128_ps(amax, 1), _mm256_castps256_ps128(amax));
        let m2 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        let m1 = _mm_max_ss(m2, _mm_movehdup_ps(m2));
        let d = _mm_cvtss_f32(m1) / 127.0;
        let id = _mm256_set1_ps(if d > 0.0 { 1.0 / d } else { 0.0 });
        // The conversion rounds to nearest even (the default MXCSR mode), as the scalar code.
        let i = [
            _mm256_cvtps_epi32(_mm256_mul_ps(v[0], id)),
            _mm256_cvtps_epi32(_mm256_mul_ps(v[1], id)),
            _mm256_cvtps_epi32(_mm256_mul_ps(v[2], id)),
            _mm256_cvtps_epi32(_mm256_mul_ps(v[3], id)),
        ];
        let sum = _mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3]));
        let s4 = _mm_add_epi32(
            _mm256_extracti128_si256(sum, 1),
            _mm256_castsi256_si128(sum),
        );
        let s2 = _mm_add_epi32(s4, _mm_unpackhi_epi64(s4, s4));
        let s1 = _mm_add_epi32(s2, _mm_shuffle_epi32::<1>(s2));
        // i32 → i16 → i8 (values are within ±127); the packs interleave 128-bit lanes, which
        // the final permute undoes.
        let w16a = _mm256_packs_epi32(i[0], i[1]);
        let w16b = _mm256_packs_epi32(i[2], i[3]);
        let w8 = _mm256_packs_epi16(w16a, w16b);
        let w8 = _mm256_permutevar8x32_epi32(w8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(q.as_mut_ptr() as *mut __m256i, w8);
        (d, _mm_cvtsi128_si32(s1))
    }

    /// The 32 values of weight block `wi` as signed bytes.
    #[inline(always)]
    unsafe fn weight_i8(w: &WeightRef, wi: usize) -> __m256i {
        match w.blocks {
            Blocks::Q4_0 => {
                let x = _mm_loadu_si128(w.quants.as_ptr().add(wi * QK / 2) as *const __m128i);
                let mask = _mm_set1_epi8(0x0f);
                let lo = _mm_and_si128(x, mask);
                let hi = _mm_and_si128(_mm_srli_epi16::<4>(x), mask);
                _mm256_sub_epi8(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(8))
            }
            Blocks::Q8_0 => _mm256_loadu_si256(w.quants.as_ptr().add(wi * QK) as *const __m256i),
        }
    }

    #[inline(always)]
    unsafe fn hsum256(v: __m256) -> f32 {
        let s4 = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
        let s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
        _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)))
    }

    /// AVX2 tile: one block at a time. |w| ≤ 128 and |a| ≤ 127, so `vpmaddubsw`'s pair sums
    /// (≤ 2·128·127) never saturate.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tile_avx2<const RM: usize, const TN: usize>(
        w: &WeightRef,
        a: &Activations,
        r: usize,
        t: usize,
        tile: &mut [[f32; TILE_TOKENS]; TILE_ROWS],
    ) {
        let ones = _mm256_set1_epi16(1);
        let mut acc = [[_mm256_setzero_ps(); TN]; RM];
        for b in 0..w.per_row {
            let mut wv = [_mm256_setzero_si256(); RM];
            let mut wabs = [_mm256_setzero_si256(); RM];
            let mut ws = [0f32; RM];
            for i in 0..RM {
                let wi = (r + i) * w.per_row + b;
                wv[i] = weight_i8(w, wi);
                wabs[i] = _mm256_sign_epi8(wv[i], wv[i]);
                ws[i] = *w.scales.get_unchecked(wi);
            }
            for j in 0..TN {
                let ai = (t + j) * w.per_row + b;
                let av = _mm256_loadu_si256(a.q.as_ptr().add(ai * QK) as *const __m256i);
                let ad = *a.d8.get_unchecked(ai * 8);
                for i in 0..RM {
                    let p = _mm256_maddubs_epi16(wabs[i], _mm256_sign_epi8(av, wv[i]));
                    let s = _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones));
                    acc[i][j] = _mm256_fmadd_ps(s, _mm256_set1_ps(ws[i] * ad), acc[i][j]);
                }
            }
        }
        for i in 0..RM {
            for j in 0..TN {
                tile[i][j] = hsum256(acc[i][j]);
            }
        }
    }

    /// Weight blocks `wi` and `wi + 1` as unsigned bytes (value + 8 for Q4_0, + 128 for Q8_0),
    /// in value order, block `wi` in the low half.
    #[inline(always)]
    unsafe fn weight_pair_u8(w: &WeightRef, wi: usize) -> __m512i {
        match w.blocks {
            Blocks::Q4_0 => {
                let x = _mm256_loadu_si256(w.quants.as_ptr().add(wi * QK / 2) as *const __m256i);
                let mask = _mm256_set1_epi8(0x0f);
                let lo = _mm256_and_si256(x, mask);
                let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(x), mask);
                // [lo0 lo1 hi0 hi1] → [lo0 hi0 lo1 hi1] (128-bit lanes).
                let z = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi);
                _mm512_shuffle_i64x2::<0b11_01_10_00>(z, z)
            }
            Blocks::Q8_0 => _mm512_xor_si512(
                _mm512_loadu_si512(w.quants.as_ptr().add(wi * QK) as *const __m512i),
                _mm512_set1_epi8(-128),
            ),
        }
    }

    /// AVX-512 VNNI tile: two blocks per register (`per_row` is even).
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
    pub(super) unsafe fn tile_avx512<const RM: usize, const TN: usize>(
        w: &WeightRef,
        a: &Activations,
        r: usize,
        t: usize,
        tile: &mut [[f32; TILE_TOKENS]; TILE_ROWS],
    ) {
        // Σ (u − off)·a = Σ u·a − off·Σ a; −Σ a is stored, so shift by log2(off).
        let shift = match w.blocks {
            Blocks::Q4_0 => 3,
            Blocks::Q8_0 => 7,
        };
        let shift = _mm_cvtsi32_si128(shift);
        let pair_idx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
        let mut acc = [[_mm512_setzero_ps(); TN]; RM];
        for b in (0..w.per_row).step_by(2) {
            let mut wv = [_mm512_setzero_si512(); RM];
            let mut wd = [_mm512_setzero_ps(); RM];
            for i in 0..RM {
                let wi = (r + i) * w.per_row + b;
                wv[i] = weight_pair_u8(w, wi);
                let two = _mm_castpd_ps(_mm_load_sd(w.scales.as_ptr().add(wi) as *const f64));
                wd[i] = _mm512_permutexvar_ps(pair_idx, _mm512_castps128_ps512(two));
            }
            for j in 0..TN {
                let ai = (t + j) * w.per_row + b;
                let av = _mm512_loadu_si512(a.q.as_ptr().add(ai * QK) as *const __m512i);
                let ad = _mm512_loadu_ps(a.d8.as_ptr().add(ai * 8));
                let bias = _mm512_sll_epi32(
                    _mm512_loadu_si512(a.neg_sum8.as_ptr().add(ai * 8) as *const __m512i),
                    shift,
                );
                for i in 0..RM {
                    let dot = _mm512_dpbusd_epi32(bias, wv[i], av);
                    acc[i][j] = _mm512_fmadd_ps(
                        _mm512_cvtepi32_ps(dot),
                        _mm512_mul_ps(wd[i], ad),
                        acc[i][j],
                    );
                }
            }
        }
        for i in 0..RM {
            for j in 0..TN {
                tile[i][j] = _mm512_reduce_add_ps(acc[i][j]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Module;
    use candle_core::quantized::QMatMul;

    /// Deterministic values in [-1, 1).
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect()
    }

    fn quantized(rows: usize, cols: usize, dtype: GgmlDType, seed: u64) -> QTensor {
        let w = Tensor::from_vec(values(rows * cols, seed), (rows, cols), &Device::Cpu).unwrap();
        QTensor::quantize(&w, dtype).unwrap()
    }

    fn rel_err(a: &[f32], b: &[f32]) -> f32 {
        let diff: f32 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
        let norm: f32 = b.iter().map(|y| y * y).sum();
        (diff / norm).sqrt()
    }

    /// Our product at every level against candle's QMatMul on the same quantised matrix, and
    /// the SIMD levels against the scalar one, for tile-edge shapes (rows and tokens not
    /// multiples of 4, an odd block count).
    #[test]
    fn kernels_match_candle_and_each_other() {
        for dtype in [GgmlDType::Q4_0, GgmlDType::Q8_0] {
            for (rows, cols, m) in [(36, 128, 7), (13, 96, 5), (8, 64, 1), (64, 256, 70)] {
                let qt = quantized(rows, cols, dtype, rows as u64 * 31 + cols as u64);
                let x = values(m * cols, 7 + m as u64);
                let xs = Tensor::from_slice(&x, (m, cols), &Device::Cpu).unwrap();
                let want = QMatMul::from_qtensor(quantized(
                    rows,
                    cols,
                    dtype,
                    rows as u64 * 31 + cols as u64,
                ))
                .unwrap()
                .forward(&xs)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
                // The exact product with the dequantised weights.
                let dense = qt.dequantize(&Device::Cpu).unwrap();
                let exact = xs
                    .matmul(&dense.t().unwrap())
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap();
                let w = QWeight::new(qt).unwrap();
                let Repr::Fast {
                    blocks,
                    scales,
                    quants,
                } = &w.repr
                else {
                    panic!("{dtype:?} should take the fast path");
                };
                let mut scalar = vec![0f32; m * rows];
                for level in Level::available() {
                    let acts = Activations::quantize_with(level, &x, m, cols);
                    let mut got = vec![0f32; m * rows];
                    pool()
                        .install(|| w.fast_matmul(level, *blocks, scales, quants, &acts, &mut got));
                    // Both sides quantise the activations to 8 bits, candle with an f16
                    // scale and this module with an f32 one: each is ~0.4 % off the exact
                    // product, and no closer to the other than that.
                    let e = rel_err(&got, &want);
                    assert!(e < 1e-2, "{dtype:?} {rows}×{cols}, m={m}, {level:?}: {e}");
                    let e = rel_err(&got, &exact);
                    assert!(
                        e < 8e-3,
                        "{dtype:?} {rows}×{cols}, m={m}, {level:?} vs f32: {e}"
                    );
                    if level == Level::Scalar {
                        scalar = got;
                    } else {
                        let e = rel_err(&got, &scalar);
                        assert!(e < 1e-5, "{dtype:?} {level:?} vs scalar: {e}");
                    }
                }
            }
        }
    }

    #[test]
    fn quantisation_levels_agree() {
        let x = values(4 * 64, 3);
        let want = Activations::quantize_with(Level::Scalar, &x, 4, 64);
        for level in Level::available() {
            let got = Activations::quantize_with(level, &x, 4, 64);
            assert_eq!(got.q, want.q, "{level:?}");
            assert_eq!(got.d8, want.d8, "{level:?}");
            assert_eq!(got.neg_sum8, want.neg_sum8, "{level:?}");
        }
        // All zeros: scale 0, quants 0.
        let zero = Activations::quantize(&[0.0; 32], 1, 32);
        assert!(zero.q.iter().all(|&q| q == 0) && zero.d8[0] == 0.0);
    }

    #[test]
    fn rows_dequantise_like_candle() {
        for dtype in [
            GgmlDType::Q4_0,
            GgmlDType::Q8_0,
            GgmlDType::Q4_1,
            GgmlDType::F16,
        ] {
            let qt = quantized(5, 64, dtype, 11);
            let dense = qt
                .dequantize(&Device::Cpu)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            let w = QWeight::new(qt).unwrap();
            assert_eq!(
                w.takes_q8(),
                matches!(dtype, GgmlDType::Q4_0 | GgmlDType::Q8_0)
            );
            let mut row = vec![0f32; 64];
            for (r, want) in dense.iter().enumerate() {
                w.row_into(r, &mut row).unwrap();
                assert_eq!(&row, want, "{dtype:?} row {r}");
            }
            assert!(w.row_into(5, &mut row).is_err());
        }
    }

    /// Types without a fast kernel go through candle and give candle's result.
    #[test]
    fn other_types_use_candles_matmul() {
        let qt = quantized(8, 64, GgmlDType::Q4_1, 5);
        let x = values(3 * 64, 9);
        let xs = Tensor::from_slice(&x, (3, 64), &Device::Cpu).unwrap();
        let want = QMatMul::from_qtensor(quantized(8, 64, GgmlDType::Q4_1, 5))
            .unwrap()
            .forward(&xs)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let w = QWeight::new(qt).unwrap();
        let mut got = vec![0f32; 3 * 8];
        w.matmul(&x, None, 3, &mut got).unwrap();
        assert!(rel_err(&got, &want) < 1e-6);
    }
}
