//! Quantised matrix products for the GGUF model ([`super::qwen2_gguf`]): `x · Wᵀ` for a weight
//! matrix `W` (rows = outputs) stored in llama.cpp's Q4_0 or Q8_0 blocks and a batch of f32
//! activation rows (tokens).
//!
//! The activation rows are quantised once to Q8_0 ([`Activations`]); a weight row is then read
//! once per group of tokens rather than once per token (candle's generic quantised matmul
//! computes each dot product separately). Work is split over weight-row ranges on the model's
//! thread pool ([`pool`]).
//!
//! Three implementations of the same arithmetic, chosen at run time with
//! `is_x86_feature_detected!` (never assumed from the build target; AMX is never used):
//! - AVX-512 VNNI: the weights are repacked at load into groups of 16 rows ([`Layout::Rows16`]),
//!   four bytes of each row side by side, so one `vpdpbusd` multiplies four values of 16 rows
//!   by the same four activation bytes (broadcast). A block's eight such products leave each
//!   lane holding one row's whole block dot product, converted and scaled once per 16 rows,
//!   token and block; 8 tokens share each unpacked weight block. Weights are unsigned bytes
//!   (Q4_0 nibbles as stored, Q8_0 offset by 128 at repacking), the offset taken back out by
//!   starting each block's sum at −offset × the activation block's sum, computed once when the
//!   activations are quantised. Outputs are written 16 at a time, token-major;
//! - AVX2 + FMA, on the GGUF order ([`Layout::Plain`]): tiles of 4 weight rows × up to 4
//!   tokens, one block per 256-bit register, signs moved onto the activations (`vpsignb`) so
//!   `vpmaddubsw` sees an unsigned operand (llama.cpp's llamafile "tinyBLAS" Q0 scheme);
//! - portable scalar code, which the tests hold the others to (on both layouts).
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
/// Weight rows per tile ([`Layout::Plain`] kernels).
const TILE_ROWS: usize = 4;
/// Tokens per tile ([`Layout::Plain`] kernels).
const TILE_TOKENS: usize = 4;
/// Weight rows per group in [`Layout::Rows16`]: one 512-bit register of i32 lanes.
const GROUP_ROWS: usize = 16;
/// Tokens sharing one unpacked weight block in the [`Layout::Rows16`] kernel.
const GROUP_TOKENS: usize = 8;
/// Tokens whose quantised activations a worker walks through before moving to its next rows:
/// 128 tokens of a 4864-wide row are ~620 KB, which stays in L2 while the rows stream by
/// (each pass over the token blocks reads the weights from memory once).
const TOKEN_BLOCK: usize = 128;

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

    /// The weight layout this level's kernel reads.
    fn layout(self) -> Layout {
        match self {
            Level::Avx512Vnni => Layout::Rows16,
            Level::Scalar | Level::Avx2 => Layout::Plain,
        }
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

    /// What each stored byte of this format is XORed with in [`Layout::Rows16`]: Q8_0's signed
    /// bytes become unsigned (value + 128); Q4_0's nibbles are unsigned already (value + 8).
    fn rows16_flip(self) -> u8 {
        match self {
            Blocks::Q4_0 => 0,
            Blocks::Q8_0 => 0x80,
        }
    }

    /// The stored offset of an unsigned weight value in [`Layout::Rows16`].
    fn rows16_offset(self) -> i32 {
        match self {
            Blocks::Q4_0 => 8,
            Blocks::Q8_0 => 128,
        }
    }
}

/// How a fast matrix's blocks are laid out in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// GGUF order: row by row, block by block; scale `row × blocks_per_row + block`.
    Plain,
    /// Rows in groups of [`GROUP_ROWS`] (the last padded with zero-scale rows); for each group
    /// and block, the 16 rows' scales side by side, then the blocks' stored bytes in 4-byte
    /// pieces: piece `p` of all 16 rows (64 bytes), then piece `p + 1`, … (Q4_0: 4 pieces,
    /// byte `j` holding values `j` and `j + 16`; Q8_0: 8 pieces, flipped to unsigned).
    Rows16,
}

enum Repr {
    /// Q4_0 / Q8_0, the scales widened to f32 and kept apart from the quants so that blocks
    /// load aligned and back to back.
    Fast {
        blocks: Blocks,
        layout: Layout,
        /// `rows × blocks_per_row` scales (rows padded to a whole group in `Rows16`).
        scales: Vec<f32>,
        /// `rows × blocks_per_row × blocks.bytes()` quants (rows padded likewise).
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
    /// Takes over a 2-D quantised tensor (GGUF order: `(rows, cols)`), laid out for the
    /// kernel this CPU runs.
    pub fn new(tensor: QTensor) -> Result<QWeight> {
        QWeight::with_layout(tensor, Level::detect().layout())
    }

    fn with_layout(tensor: QTensor, layout: Layout) -> Result<QWeight> {
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
        let (scales, quants) = match layout {
            Layout::Plain => {
                let mut scales = Vec::with_capacity(n_blocks);
                let mut quants = Vec::with_capacity(n_blocks * blocks.bytes());
                for block in raw.chunks_exact(block_bytes) {
                    scales.push(f16::from_le_bytes([block[0], block[1]]).to_f32());
                    quants.extend_from_slice(&block[2..]);
                }
                (scales, quants)
            }
            Layout::Rows16 => {
                let per_row = cols / QK;
                let bytes = blocks.bytes();
                let padded = rows.div_ceil(GROUP_ROWS) * GROUP_ROWS;
                let mut scales = vec![0f32; padded * per_row];
                let mut quants = vec![0u8; padded * per_row * bytes];
                for (bi, block) in raw.chunks_exact(block_bytes).enumerate() {
                    let (row, b) = (bi / per_row, bi % per_row);
                    let (g, i) = (row / GROUP_ROWS, row % GROUP_ROWS);
                    let base = g * per_row + b;
                    scales[base * GROUP_ROWS + i] =
                        f16::from_le_bytes([block[0], block[1]]).to_f32();
                    let dst = &mut quants[base * GROUP_ROWS * bytes..][..GROUP_ROWS * bytes];
                    for (p, piece) in block[2..].chunks_exact(4).enumerate() {
                        for (e, &v) in piece.iter().enumerate() {
                            dst[p * 4 * GROUP_ROWS + i * 4 + e] = v ^ blocks.rows16_flip();
                        }
                    }
                }
                (scales, quants)
            }
        };
        Ok(QWeight {
            rows,
            cols,
            repr: Repr::Fast {
                blocks,
                layout,
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
                layout,
                scales,
                quants,
            } => {
                let w = WeightRef {
                    blocks: *blocks,
                    layout: *layout,
                    per_row: self.cols / QK,
                    scales,
                    quants,
                };
                for (b, dst) in out.chunks_exact_mut(QK).enumerate() {
                    let (d, values) = w.block(row, b);
                    for (o, &v) in dst.iter_mut().zip(&values) {
                        *o = d * v as f32;
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
            Repr::Fast { .. } => {
                let acts = q8.context("quantised activations missing")?;
                assert_eq!((acts.rows, acts.cols), (m, self.cols), "activation shape");
                self.fast_matmul(Level::detect(), acts, out);
            }
            Repr::Candle { tensor, .. } => {
                let xs = Tensor::from_slice(x, (m, self.cols), &Device::Cpu)?;
                let ys = xs.apply_op1_no_bwd(tensor.as_ref())?;
                out.copy_from_slice(&ys.flatten_all()?.to_vec1::<f32>()?);
            }
        }
        Ok(())
    }

    /// The product with quantised activations, by `level`'s kernel when this matrix is laid
    /// out for it and by the scalar reference otherwise (tests pair every layout with every
    /// level; [`QWeight::new`] lays the matrix out for the detected level).
    fn fast_matmul(&self, level: Level, acts: &Activations, out: &mut [f32]) {
        let Repr::Fast {
            blocks,
            layout,
            scales,
            quants,
        } = &self.repr
        else {
            unreachable!("fast_matmul on a matrix without fast blocks");
        };
        let w = WeightRef {
            blocks: *blocks,
            layout: *layout,
            per_row: self.cols / QK,
            scales,
            quants,
        };
        match (*layout, level) {
            (Layout::Rows16, Level::Avx512Vnni) => self.rows16_matmul(&w, acts, out),
            (Layout::Plain, Level::Avx2) => self.tiled_matmul(Level::Avx2, &w, acts, out),
            _ => self.tiled_matmul(Level::Scalar, &w, acts, out),
        }
    }

    /// Row ranges for the pool: about 8 per thread so it can balance, each a whole number of
    /// `unit` rows.
    fn rows_per_task(&self, unit: usize) -> usize {
        let threads = rayon::current_num_threads().max(1);
        let units = self.rows.div_ceil(unit);
        units.div_ceil(threads * 8).max(1) * unit
    }

    /// [`Layout::Rows16`] with the AVX-512 VNNI kernel: groups of 16 rows × 8 tokens.
    fn rows16_matmul(&self, w: &WeightRef, acts: &Activations, out: &mut [f32]) {
        let n = self.rows;
        let m = acts.rows;
        let rows_per_task = self.rows_per_task(GROUP_ROWS);
        let dst = OutPtr(out.as_mut_ptr());
        (0..n.div_ceil(rows_per_task))
            .into_par_iter()
            .for_each(|task| {
                let r0 = task * rows_per_task;
                let r1 = (r0 + rows_per_task).min(n);
                let mut tile = [[0f32; GROUP_ROWS]; GROUP_TOKENS];
                for t0 in (0..m).step_by(TOKEN_BLOCK) {
                    let t1 = (t0 + TOKEN_BLOCK).min(m);
                    for r in (r0..r1).step_by(GROUP_ROWS) {
                        let rm = (r1 - r).min(GROUP_ROWS);
                        for t in (t0..t1).step_by(GROUP_TOKENS) {
                            let tn = (t1 - t).min(GROUP_TOKENS);
                            group_dispatch(w, acts, r / GROUP_ROWS, t, tn, &mut tile);
                            for (j, row) in tile.iter().enumerate().take(tn) {
                                // SAFETY: rows r..r + rm of token t + j are inside the m × n
                                // output, and each task writes only its own rows r0..r1.
                                unsafe { dst.write_run((t + j) * n + r, &row[..rm]) };
                            }
                        }
                    }
                }
            });
    }

    /// Tiles of 4 rows × 4 tokens with the AVX2 kernel ([`Layout::Plain`]) or the scalar one
    /// (either layout).
    fn tiled_matmul(&self, level: Level, w: &WeightRef, acts: &Activations, out: &mut [f32]) {
        let n = self.rows;
        let m = acts.rows;
        let rows_per_task = self.rows_per_task(TILE_ROWS);
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
                            tile_dispatch(level, w, acts, r, rm, t, tn, &mut tile);
                            for (i, row) in tile.iter().enumerate().take(rm) {
                                for (j, &v) in row.iter().enumerate().take(tn) {
                                    // SAFETY: (t + j, r + i) is inside the m × n output, and
                                    // each task writes only its own rows r0..r1.
                                    unsafe { dst.write_run((t + j) * n + r + i, &[v]) };
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
    /// Copies `values` to elements `i..i + values.len()`.
    ///
    /// # Safety
    /// Those elements are in bounds and no other thread touches them.
    unsafe fn write_run(self, i: usize, values: &[f32]) {
        unsafe {
            std::ptr::copy_nonoverlapping(values.as_ptr(), self.0.add(i), values.len());
        }
    }
}

struct WeightRef<'a> {
    blocks: Blocks,
    layout: Layout,
    per_row: usize,
    scales: &'a [f32],
    quants: &'a [u8],
}

impl WeightRef<'_> {
    /// Block `b` of row `row`: its scale and its 32 values, in either layout.
    fn block(&self, row: usize, b: usize) -> (f32, [i8; QK]) {
        let bytes = self.blocks.bytes();
        // The block's bytes as GGUF stores them.
        let mut raw = [0u8; QK];
        let scale = match self.layout {
            Layout::Plain => {
                let i = row * self.per_row + b;
                raw[..bytes].copy_from_slice(&self.quants[i * bytes..][..bytes]);
                self.scales[i]
            }
            Layout::Rows16 => {
                let (g, i) = (row / GROUP_ROWS, row % GROUP_ROWS);
                let base = g * self.per_row + b;
                let chunk = &self.quants[base * GROUP_ROWS * bytes..][..GROUP_ROWS * bytes];
                for (p, piece) in raw[..bytes].chunks_exact_mut(4).enumerate() {
                    for (e, v) in piece.iter_mut().enumerate() {
                        *v = chunk[p * 4 * GROUP_ROWS + i * 4 + e] ^ self.blocks.rows16_flip();
                    }
                }
                self.scales[base * GROUP_ROWS + i]
            }
        };
        let mut values = [0i8; QK];
        match self.blocks {
            Blocks::Q4_0 => {
                for j in 0..QK / 2 {
                    values[j] = (raw[j] & 0x0f) as i8 - 8;
                    values[j + QK / 2] = (raw[j] >> 4) as i8 - 8;
                }
            }
            Blocks::Q8_0 => {
                for (v, &r) in values.iter_mut().zip(&raw) {
                    *v = r as i8;
                }
            }
        }
        (scale, values)
    }
}

/// Activation rows quantised to Q8_0 (scale per 32 values, f32 here), with each block's sum,
/// which the AVX-512 kernel needs to take its weights' unsigned offset back out.
pub struct Activations {
    rows: usize,
    cols: usize,
    /// `rows × cols` signed quants.
    q: Vec<i8>,
    /// `rows × blocks`: the block scales.
    d: Vec<f32>,
    /// `rows × blocks`: minus each block's quant sum.
    neg_sum: Vec<i32>,
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
        let mut d = vec![0f32; m * blocks];
        let mut neg_sum = vec![0i32; m * blocks];
        q.par_chunks_mut(QK)
            .zip(d.par_iter_mut())
            .zip(neg_sum.par_iter_mut())
            .zip(x.par_chunks(QK))
            .with_min_len(64)
            .for_each(|(((q, d), s), x)| {
                let (scale, sum) = quantize_block(level, x, q);
                *d = scale;
                *s = -sum;
            });
        Activations {
            rows: m,
            cols,
            q,
            d,
            neg_sum,
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
        // SAFETY: the level was detected at run time (`Level::detect`), or chosen by a test
        // from `Level::available`.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { dispatch!(x86::tile_avx2) },
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
    for (i, tile_row) in tile.iter_mut().enumerate().take(RM) {
        for (j, out) in tile_row.iter_mut().enumerate().take(TN) {
            let mut acc = 0f32;
            for b in 0..w.per_row {
                let (scale, values) = w.block(r + i, b);
                let ai = (t + j) * w.per_row + b;
                let aq = &a.q[ai * QK..(ai + 1) * QK];
                let dot: i32 = values
                    .iter()
                    .zip(aq)
                    .map(|(&x, &y)| x as i32 * y as i32)
                    .sum();
                acc += scale * a.d[ai] * dot as f32;
            }
            *out = acc;
        }
    }
}

/// Computes group `g` (rows `16 g..16 g + 16`) × tokens `t..t + tn` ([`Layout::Rows16`]) into
/// `tile[token][row]`.
fn group_dispatch(
    w: &WeightRef,
    a: &Activations,
    g: usize,
    t: usize,
    tn: usize,
    tile: &mut [[f32; GROUP_ROWS]; GROUP_TOKENS],
) {
    debug_assert_eq!(w.layout, Layout::Rows16);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: Rows16 is only paired with Level::Avx512Vnni (see `fast_matmul`), which was
    // detected at run time or chosen by a test from `Level::available`.
    unsafe {
        match tn {
            8 => x86::group_avx512::<8>(w, a, g, t, tile),
            7 => x86::group_avx512::<7>(w, a, g, t, tile),
            6 => x86::group_avx512::<6>(w, a, g, t, tile),
            5 => x86::group_avx512::<5>(w, a, g, t, tile),
            4 => x86::group_avx512::<4>(w, a, g, t, tile),
            3 => x86::group_avx512::<3>(w, a, g, t, tile),
            2 => x86::group_avx512::<2>(w, a, g, t, tile),
            _ => x86::group_avx512::<1>(w, a, g, t, tile),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!(
        "the Rows16 layout is only chosen with AVX-512 VNNI ({w:p}, {a:p}, {g}, {t}, {tn}, {tile:p})"
    );
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    // Every function here is SIMD intrinsics on checked slices; one `unsafe` per function (its
    // target features, which the caller has detected) says what needs saying.
    #![allow(unsafe_op_in_unsafe_fn)]
    // Register tiles are indexed [row][token] in fully unrolled loops.
    #![allow(clippy::needless_range_loop)]
    use super::{
        Activations, Blocks, GROUP_ROWS, GROUP_TOKENS, QK, TILE_ROWS, TILE_TOKENS, WeightRef,
    };
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
                let ad = *a.d.get_unchecked(ai);
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

    /// [`super::Layout::Rows16`] kernel: group `g`'s 16 rows × tokens `t..t + TN`, all blocks.
    /// For each block, piece `p` (4 bytes of each of the 16 rows, one per i32 lane) meets the
    /// matching 4 activation bytes broadcast to every lane; after a block's 8 pieces each lane
    /// holds its row's integer block dot product (started from −offset · Σ activations, so the
    /// weights' unsigned offset cancels), which is converted and scaled once.
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma")]
    pub(super) unsafe fn group_avx512<const TN: usize>(
        w: &WeightRef,
        a: &Activations,
        g: usize,
        t: usize,
        tile: &mut [[f32; GROUP_ROWS]; GROUP_TOKENS],
    ) {
        assert!(TN <= GROUP_TOKENS && (t + TN) * w.per_row * QK <= a.q.len());
        let bytes = w.blocks.bytes();
        assert!((g + 1) * w.per_row * GROUP_ROWS * bytes <= w.quants.len());
        assert!((g + 1) * w.per_row * GROUP_ROWS <= w.scales.len());
        let offset = w.blocks.rows16_offset();
        let low = _mm512_set1_epi8(0x0f);
        let mut acc = [_mm512_setzero_ps(); TN];
        for b in 0..w.per_row {
            let base = g * w.per_row + b;
            let wq = w.quants.as_ptr().add(base * GROUP_ROWS * bytes);
            let mut wv = [_mm512_setzero_si512(); 8];
            match w.blocks {
                Blocks::Q4_0 => {
                    // Byte j holds values j (low nibble) and j + 16 (high): piece p gives
                    // values 4p.. and 4p + 16.., pieces p and p + 4 of the block.
                    for p in 0..4 {
                        let x = _mm512_loadu_si512(wq.add(p * 64) as *const __m512i);
                        wv[p] = _mm512_and_si512(x, low);
                        wv[p + 4] = _mm512_and_si512(_mm512_srli_epi16::<4>(x), low);
                    }
                }
                Blocks::Q8_0 => {
                    for (p, v) in wv.iter_mut().enumerate() {
                        *v = _mm512_loadu_si512(wq.add(p * 64) as *const __m512i);
                    }
                }
            }
            let ws = _mm512_loadu_ps(w.scales.as_ptr().add(base * GROUP_ROWS));
            let mut dot = [_mm512_setzero_si512(); TN];
            for (j, d) in dot.iter_mut().enumerate() {
                let ai = (t + j) * w.per_row + b;
                *d = _mm512_set1_epi32(*a.neg_sum.get_unchecked(ai) * offset);
            }
            for (p, wp) in wv.iter().enumerate() {
                for (j, d) in dot.iter_mut().enumerate() {
                    let ai = (t + j) * w.per_row + b;
                    let four = (a.q.as_ptr().add(ai * QK + p * 4) as *const i32).read_unaligned();
                    *d = _mm512_dpbusd_epi32(*d, *wp, _mm512_set1_epi32(four));
                }
            }
            for (j, (s, d)) in acc.iter_mut().zip(&dot).enumerate() {
                let ad = _mm512_set1_ps(*a.d.get_unchecked((t + j) * w.per_row + b));
                *s = _mm512_fmadd_ps(_mm512_cvtepi32_ps(*d), _mm512_mul_ps(ws, ad), *s);
            }
        }
        for (row, s) in tile.iter_mut().zip(&acc) {
            _mm512_storeu_ps(row.as_mut_ptr(), *s);
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

    /// Our product at every level and in both layouts against candle's QMatMul on the same
    /// quantised matrix and against the exact product, and each SIMD kernel against the
    /// scalar reference on the same layout, for edge shapes: rows not a multiple of 4 or 16,
    /// an odd block count, token counts that leave partial tiles and cross a token block.
    #[test]
    fn kernels_match_candle_and_each_other() {
        for dtype in [GgmlDType::Q4_0, GgmlDType::Q8_0] {
            for (rows, cols, m) in [
                (36, 128, 7),
                (13, 96, 5),
                (8, 64, 1),
                (64, 256, 70),
                (50, 160, 131),
                (17, 32, 9),
            ] {
                let seed = rows as u64 * 31 + cols as u64;
                let x = values(m * cols, 7 + m as u64);
                let xs = Tensor::from_slice(&x, (m, cols), &Device::Cpu).unwrap();
                let want = QMatMul::from_qtensor(quantized(rows, cols, dtype, seed))
                    .unwrap()
                    .forward(&xs)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap();
                // The exact product with the dequantised weights.
                let dense = quantized(rows, cols, dtype, seed)
                    .dequantize(&Device::Cpu)
                    .unwrap();
                let exact = xs
                    .matmul(&dense.t().unwrap())
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap();
                for layout in [Layout::Plain, Layout::Rows16] {
                    let w =
                        QWeight::with_layout(quantized(rows, cols, dtype, seed), layout).unwrap();
                    let mut scalar = vec![0f32; m * rows];
                    for level in Level::available() {
                        let acts = Activations::quantize_with(level, &x, m, cols);
                        // Sentinels: every output must be written.
                        let mut got = vec![f32::NAN; m * rows];
                        pool().install(|| w.fast_matmul(level, &acts, &mut got));
                        let what = format!("{dtype:?} {layout:?} {rows}×{cols}, m={m}, {level:?}");
                        assert!(got.iter().all(|v| v.is_finite()), "{what}: unwritten");
                        // Both sides quantise the activations to 8 bits, candle with an f16
                        // scale and this module with an f32 one: each is ~0.4 % off the exact
                        // product, and no closer to the other than that.
                        let e = rel_err(&got, &want);
                        assert!(e < 1e-2, "{what}: {e}");
                        let e = rel_err(&got, &exact);
                        assert!(e < 8e-3, "{what} vs f32: {e}");
                        if level == Level::Scalar {
                            scalar = got;
                        } else {
                            // The same integer dot products; only f32 rounding differs.
                            for (i, (g, s)) in got.iter().zip(&scalar).enumerate() {
                                assert!(
                                    (g - s).abs() <= 1e-4 * (1.0 + s.abs()),
                                    "{what} vs scalar at {i}: {g} vs {s}"
                                );
                            }
                        }
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
            assert_eq!(got.d, want.d, "{level:?}");
            assert_eq!(got.neg_sum, want.neg_sum, "{level:?}");
        }
        for (block, &s) in want.q.chunks_exact(QK).zip(&want.neg_sum) {
            assert_eq!(s, -block.iter().map(|&q| q as i32).sum::<i32>());
        }
        // All zeros: scale 0, quants 0.
        let zero = Activations::quantize(&[0.0; 32], 1, 32);
        assert!(zero.q.iter().all(|&q| q == 0) && zero.d[0] == 0.0);
    }

    #[test]
    fn rows_dequantise_like_candle() {
        for dtype in [
            GgmlDType::Q4_0,
            GgmlDType::Q8_0,
            GgmlDType::Q4_1,
            GgmlDType::F16,
        ] {
            // 19 rows: a whole group of 16 and a padded one.
            let qt = quantized(19, 64, dtype, 11);
            let dense = qt
                .dequantize(&Device::Cpu)
                .unwrap()
                .to_vec2::<f32>()
                .unwrap();
            for layout in [Layout::Plain, Layout::Rows16] {
                let w = QWeight::with_layout(quantized(19, 64, dtype, 11), layout).unwrap();
                assert_eq!(
                    w.takes_q8(),
                    matches!(dtype, GgmlDType::Q4_0 | GgmlDType::Q8_0)
                );
                let mut row = vec![0f32; 64];
                for (r, want) in dense.iter().enumerate() {
                    w.row_into(r, &mut row).unwrap();
                    assert_eq!(&row, want, "{dtype:?} {layout:?} row {r}");
                }
                assert!(w.row_into(19, &mut row).is_err());
            }
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
