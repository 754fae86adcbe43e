//! OCR with PP-OCR models on ONNX Runtime: detection (DB), direction classification,
//! recognition (CTC), and reading order.
//!
//! `detect.rs`, `recognise.rs` and `layout.rs` hold the pre- and post-processing as plain
//! functions on plain data (maps, boxes, crops, lines); this file owns the model sessions and
//! glues the stages, timing each. [`OcrEngine`] is `Sync`: each model's session sits behind its
//! own mutex, so concurrent reads overlap across stages (one image in detection while another
//! is in recognition).
//!
//! **Invariants:** nothing here knows which document it reads; quads are in the pixel
//! coordinates of the image given to `read`; no IO besides loading the models.

pub mod detect;
pub mod layout;
pub mod recognise;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use image::RgbImage;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{RunOptions, Session};
use ort::value::TensorRef;
use serde::{Deserialize, Serialize};

pub use detect::DetParams;
use recognise::{CLS_WIDTH, Charset, Crop, Decoded, REC_HEIGHT};

/// Four corners in image pixels, clockwise from the top-left: top-left, top-right,
/// bottom-right, bottom-left.
pub type Quad = [[f32; 2]; 4];

/// One detected and recognised text line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OcrLine {
    pub text: String,
    /// Mean of the character confidences.
    pub confidence: f32,
    /// One per character of `text`.
    pub char_confidences: Vec<f32>,
    /// One per character of `text` when the recogniser's output is known (empty otherwise):
    /// the other characters it weighed there, most probable first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<recognise::Alternatives>,
    pub quad: Quad,
}

/// Milliseconds spent in each stage of one `read` (pre- and post-processing included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct OcrTimings {
    pub detect_ms: f64,
    /// Cutting out the lines and classifying their direction.
    pub classify_ms: f64,
    pub recognise_ms: f64,
    pub total_ms: f64,
}

/// Every text line of one image, in reading order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OcrPage {
    pub width: u32,
    pub height: u32,
    pub lines: Vec<OcrLine>,
    pub timings: OcrTimings,
}

impl OcrPage {
    /// The lines' text, one per line.
    pub fn text(&self) -> String {
        self.lines
            .iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Model files, relative to the models folder (as in `models/manifest.toml`).
pub const DET_MODEL: &str = "pp-ocrv6/PP-OCRv6_det_small.onnx";
pub const CLS_MODEL: &str = "pp-ocrv6/ch_ppocr_mobile_v2.0_cls_mobile.onnx";
pub const REC_MODEL: &str = "pp-ocrv6/PP-OCRv6_rec_small.onnx";
pub const RUNTIME_LIBRARY: &str = "onnxruntime/libonnxruntime.so.1.32.0";

/// The command that fetches everything OCR needs.
pub const FETCH_HINT: &str = "xiaoban models fetch pp-ocrv6 && xiaoban models fetch onnxruntime";

/// Why OCR cannot run. The `Display` text says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcrUnavailable {
    /// Model or runtime files are not on disk.
    Missing { files: Vec<PathBuf> },
    /// The ONNX Runtime library could not be loaded.
    Runtime { detail: String },
    /// A model file could not be loaded or is not the expected model.
    Model { file: PathBuf, detail: String },
}

impl fmt::Display for OcrUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OcrUnavailable::Missing { files } => write!(
                f,
                "证照识别不可用：缺少模型文件 {}。请运行 `{FETCH_HINT}` 下载（PP-OCR 模型与 ONNX Runtime 来自 PyPI）",
                files
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join("、")
            ),
            OcrUnavailable::Runtime { detail } => write!(
                f,
                "证照识别不可用：无法加载 ONNX Runtime（{detail}）。请运行 `{FETCH_HINT}` 重新下载并校验"
            ),
            OcrUnavailable::Model { file, detail } => write!(
                f,
                "证照识别不可用：模型 {} 无法加载（{detail}）。请运行 `xiaoban models verify`，必要时删除该文件后运行 `{FETCH_HINT}`",
                file.display()
            ),
        }
    }
}

impl std::error::Error for OcrUnavailable {}

/// Tuning of the pipeline; the defaults are PaddleOCR's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OcrOptions {
    pub det: DetParams,
    /// Turn a line 180° when the classifier says so with more than this probability.
    pub cls_thresh: f32,
    /// Lines whose mean confidence is below this are dropped.
    pub drop_score: f32,
    /// Crops per recognition batch.
    pub rec_batch: usize,
    /// Neighbouring boxes in a row closer than this × their height are one line.
    pub merge_gap: f32,
    /// Threads ONNX Runtime uses inside one model run (0 = one per core).
    pub threads: usize,
    /// Let ONNX Runtime's idle threads spin waiting for work. Off by default: on a server
    /// that also generates answers, spinning threads burn the cores the language model needs.
    pub spin: bool,
}

impl Default for OcrOptions {
    fn default() -> Self {
        OcrOptions {
            det: DetParams::default(),
            cls_thresh: 0.9,
            drop_score: 0.5,
            rec_batch: 6,
            merge_gap: 0.25,
            threads: 0,
            spin: false,
        }
    }
}

/// The three PP-OCR models, loaded once, shareable across threads.
pub struct OcrEngine {
    det: Mutex<Session>,
    cls: Mutex<Session>,
    rec: Mutex<Session>,
    charset: Charset,
    options: OcrOptions,
}

impl fmt::Debug for OcrEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OcrEngine")
            .field("classes", &self.charset.len())
            .field("options", &self.options)
            .finish()
    }
}

/// ONNX Runtime allows one environment per process; every engine shares it.
static ENVIRONMENT: OnceLock<std::result::Result<ort::environment::Environment, String>> =
    OnceLock::new();

fn environment(
    library: &Path,
) -> std::result::Result<&'static ort::environment::Environment, OcrUnavailable> {
    ENVIRONMENT
        .get_or_init(|| {
            let env = ort::init_from(library)
                .map_err(|e| e.to_string())?
                .with_name("xiaoban-ocr")
                .with_telemetry(false)
                .build()
                .map_err(|e| e.to_string())?;
            share_cpu_arena(&env).map_err(|e| e.to_string())?;
            Ok(env)
        })
        .as_ref()
        .map_err(|detail| OcrUnavailable::Runtime {
            detail: detail.clone(),
        })
}

/// Registers one CPU arena in the environment, which every session opened with
/// `session.use_env_allocators` takes its tensors from. Without it each of the three sessions
/// grows an arena of its own to its own peak and keeps it: the detector's (a 960-pixel page)
/// and the recogniser's (six long lines) add up, though one model runs at a time per image.
fn share_cpu_arena(env: &ort::environment::Environment) -> ort::Result<()> {
    use ort::AsPointer;
    use ort::memory::{AllocationDevice, AllocatorType, MemoryInfo, MemoryType};
    let info = MemoryInfo::new(
        AllocationDevice::CPU,
        0,
        AllocatorType::Arena,
        MemoryType::Default,
    )?;
    // SAFETY: `env` and `info` are live objects of the loaded runtime, which copies what it
    // needs of `info`; a null arena configuration asks for ONNX Runtime's defaults; the
    // returned status is owned and released by `result_from_status`.
    unsafe {
        ort::Error::result_from_status((ort::api().CreateAndRegisterAllocator)(
            env.ptr().cast_mut(),
            info.ptr(),
            std::ptr::null(),
        ))
    }
}

/// Options for every model run: the shared CPU arena gives back, when the run ends, the
/// memory it grew by during the run. Pages and line batches differ in size from run to run,
/// and an arena that keeps every block it ever took grew with PP-OCRv6's larger activations
/// to 573 MB over 1,000 uploads (`scripts/load.sh --only soak`, limit 500 MB).
fn shrinking_run() -> ort::Result<RunOptions> {
    let mut options = RunOptions::new()?;
    options.set("memory.enable_memory_arena_shrinkage", "cpu:0")?;
    Ok(options)
}

/// What one page orientation pass found (see [`OcrEngine::read_upright`]).
#[derive(Debug, Clone)]
pub struct Upright {
    /// The image turned so its text reads upright; `page`'s quads refer to it.
    pub image: RgbImage,
    /// How far the input was turned clockwise: 0, 90, 180 or 270 degrees.
    pub turned: u16,
    pub page: OcrPage,
}

impl OcrEngine {
    /// Loads the models from `models_dir` (as `xiaoban models fetch` lays them out) with the
    /// default options.
    pub fn load(models_dir: &Path) -> std::result::Result<OcrEngine, OcrUnavailable> {
        Self::load_with(models_dir, OcrOptions::default())
    }

    pub fn load_with(
        models_dir: &Path,
        options: OcrOptions,
    ) -> std::result::Result<OcrEngine, OcrUnavailable> {
        let paths = [RUNTIME_LIBRARY, DET_MODEL, CLS_MODEL, REC_MODEL].map(|p| models_dir.join(p));
        let missing: Vec<PathBuf> = paths.iter().filter(|p| !p.is_file()).cloned().collect();
        if !missing.is_empty() {
            return Err(OcrUnavailable::Missing { files: missing });
        }
        let env = environment(&paths[0])?;
        let threads = if options.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            options.threads
        };
        let open = |path: &Path| -> std::result::Result<Session, OcrUnavailable> {
            let model_err = |detail: String| OcrUnavailable::Model {
                file: path.to_path_buf(),
                detail,
            };
            Session::builder(env)
                .and_then(|b| Ok(b.with_optimization_level(GraphOptimizationLevel::All)?))
                .and_then(|b| Ok(b.with_intra_threads(threads)?))
                .and_then(|b| Ok(b.with_intra_op_spinning(options.spin)?))
                .and_then(|b| Ok(b.with_inter_op_spinning(options.spin)?))
                // Input sizes vary from image to image and line batch to line batch: a memory
                // pattern is planned (and one block for it allocated) per input shape, which
                // only fragments the arena here.
                .and_then(|b| Ok(b.with_memory_pattern(false)?))
                .and_then(|b| Ok(b.with_env_allocators()?))
                .and_then(|mut b| b.commit_from_file(path))
                .map_err(|e| model_err(e.to_string()))
        };
        let det = open(&paths[1])?;
        let cls = open(&paths[2])?;
        let rec = open(&paths[3])?;
        let dictionary = rec
            .metadata()
            .ok()
            .and_then(|m| m.custom("character"))
            .ok_or_else(|| OcrUnavailable::Model {
                file: paths[3].clone(),
                detail: "no `character` dictionary in the model metadata".into(),
            })?;
        let charset = Charset::from_dictionary(&dictionary);
        if charset.is_empty() {
            return Err(OcrUnavailable::Model {
                file: paths[3].clone(),
                detail: "empty `character` dictionary".into(),
            });
        }
        Ok(OcrEngine {
            det: Mutex::new(det),
            cls: Mutex::new(cls),
            rec: Mutex::new(rec),
            charset,
            options,
        })
    }

    pub fn options(&self) -> &OcrOptions {
        &self.options
    }

    /// Reads every text line of `image`, in reading order; each line is turned 180° when the
    /// direction classifier finds it upside down (`cls_thresh`).
    pub fn read(&self, image: &RgbImage) -> Result<OcrPage> {
        self.read_with(image, &self.options.det, Lines::ByClassifier)
    }

    /// Reads an image already turned upright ([`Upright::image`]): every line as it stands.
    /// The page's orientation was decided once by [`OcrEngine::read_upright`]; a line's own
    /// classifier verdict against it is most likely the classifier's error.
    pub fn read_turned(&self, image: &RgbImage) -> Result<OcrPage> {
        self.read_with(image, &self.options.det, Lines::AsTheyStand)
    }

    /// Reads an upright image like [`OcrEngine::read_turned`] with its short side enlarged to
    /// at least `min_side` for detection: a second look at a small page whose lone short values
    /// the first reading missed ([`detect::SECOND_LOOK_MIN_SIDE`]). Boxes stay in `image`'s
    /// pixels.
    pub fn read_enlarged(&self, image: &RgbImage, min_side: u32) -> Result<OcrPage> {
        let det = DetParams {
            min_side,
            ..self.options.det
        };
        self.read_with(image, &det, Lines::AsTheyStand)
    }

    fn read_with(&self, image: &RgbImage, det: &DetParams, lines: Lines) -> Result<OcrPage> {
        let started = Instant::now();
        let t = Instant::now();
        let quads = self.detect_with(image, det)?;
        let detect_ms = ms(t);
        let t = Instant::now();
        let mut crops: Vec<Crop> = quads.iter().map(|q| recognise::crop(image, q)).collect();
        if lines == Lines::ByClassifier {
            let flipped = self.classify(&crops)?;
            for (c, p) in crops.iter_mut().zip(flipped) {
                if p > self.options.cls_thresh {
                    image::imageops::rotate180_in_place(&mut c.image);
                }
            }
        }
        let classify_ms = ms(t);
        let t = Instant::now();
        let texts = self.recognise(&crops)?;
        let lines = self.lines(&quads, texts);
        let recognise_ms = ms(t);
        Ok(OcrPage {
            width: image.width(),
            height: image.height(),
            lines,
            timings: OcrTimings {
                detect_ms,
                classify_ms,
                recognise_ms,
                total_ms: ms(started),
            },
        })
    }

    /// Reads `image` after turning it so that its text reads upright: a quarter turn when most
    /// detected text boxes stand upright (text running up or down the page), then a half turn
    /// when the direction classifier finds most lines upside down. Use this on a photo or a
    /// straightened document (`photo::straighten`) whose orientation is unknown. The image is
    /// taken, not copied: it comes back turned in [`Upright::image`].
    pub fn read_upright(&self, image: RgbImage) -> Result<Upright> {
        let started = Instant::now();
        let t = Instant::now();
        let mut img = image;
        let mut turned = 0u16;
        let mut quads = self.detect(&img)?;
        if mostly_vertical(&quads) {
            img = image::imageops::rotate90(&img);
            turned = 90;
            quads = self.detect(&img)?;
        }
        let detect_ms = ms(t);
        let t = Instant::now();
        let mut crops: Vec<Crop> = quads.iter().map(|q| recognise::crop(&img, q)).collect();
        if page_upside_down(&quads, &self.classify(&crops)?) {
            image::imageops::rotate180_in_place(&mut img);
            turned = (turned + 180) % 360;
            let (w, h) = (img.width() as f32, img.height() as f32);
            for q in quads.iter_mut() {
                let r = q.map(|p| [w - p[0], h - p[1]]);
                *q = [r[2], r[3], r[0], r[1]];
            }
            // A page has one orientation: every crop (cut before the turn) turns with it,
            // whatever its own verdict.
            for c in crops.iter_mut() {
                image::imageops::rotate180_in_place(&mut c.image);
            }
        }
        let classify_ms = ms(t);
        let t = Instant::now();
        let texts = self.recognise(&crops)?;
        let lines = self.lines(&quads, texts);
        let recognise_ms = ms(t);
        let page = OcrPage {
            width: img.width(),
            height: img.height(),
            lines,
            timings: OcrTimings {
                detect_ms,
                classify_ms,
                recognise_ms,
                total_ms: ms(started),
            },
        };
        Ok(Upright {
            image: img,
            turned,
            page,
        })
    }

    /// Text boxes, clockwise from the top-left, in the image's pixels.
    pub fn detect(&self, image: &RgbImage) -> Result<Vec<Quad>> {
        self.detect_with(image, &self.options.det)
    }

    fn detect_with(&self, image: &RgbImage, p: &DetParams) -> Result<Vec<Quad>> {
        let input = detect::input(image, p.limit_side, p.min_side);
        let (w, h) = (input.width, input.height);
        let tensor = TensorRef::from_array_view((
            [1usize, 3, h as usize, w as usize],
            input.data.as_slice(),
        ))?;
        let shrinking = shrinking_run()?;
        let mut session = self
            .det
            .lock()
            .map_err(|_| anyhow!("detector lock poisoned"))?;
        let outputs = session.run_with_options(ort::inputs![tensor], &shrinking)?;
        let (shape, pred) = outputs[0].try_extract_tensor::<f32>()?;
        let dims: Vec<i64> = shape.iter().copied().collect();
        if dims.len() != 4 || dims[2] as u32 != h || dims[3] as u32 != w {
            bail!("unexpected detector output shape {dims:?}");
        }
        let found = detect::boxes(pred, w, h, image.width(), image.height(), p);
        Ok(found.into_iter().map(|(q, _)| q).collect())
    }

    /// For each crop: the direction classifier's probability that it is upside down.
    pub fn classify(&self, crops: &[Crop]) -> Result<Vec<f32>> {
        let mut out = vec![0.0f32; crops.len()];
        let batch = self.options.rec_batch.max(1);
        let slot = (3 * REC_HEIGHT * CLS_WIDTH) as usize;
        for (chunk_no, chunk) in crops.chunks(batch).enumerate() {
            let mut data = vec![0f32; slot * chunk.len()];
            for (i, c) in chunk.iter().enumerate() {
                let img = recognise::cls_input(c);
                recognise::fill_slot(&img, &mut data[i * slot..(i + 1) * slot], CLS_WIDTH);
            }
            let tensor = TensorRef::from_array_view((
                [chunk.len(), 3, REC_HEIGHT as usize, CLS_WIDTH as usize],
                data.as_slice(),
            ))?;
            let shrinking = shrinking_run()?;
            let mut session = self
                .cls
                .lock()
                .map_err(|_| anyhow!("classifier lock poisoned"))?;
            let outputs = session.run_with_options(ort::inputs![tensor], &shrinking)?;
            let (shape, probs) = outputs[0].try_extract_tensor::<f32>()?;
            let classes = *shape.last().context("classifier output has no shape")? as usize;
            if classes < 2 || probs.len() != classes * chunk.len() {
                bail!("unexpected classifier output shape {:?}", shape.to_vec());
            }
            for (i, p) in probs.chunks_exact(classes).enumerate() {
                // Classes 0° and 180°, softmaxed.
                out[chunk_no * batch + i] = p[1] / (p[0] + p[1]).max(f32::MIN_POSITIVE);
            }
        }
        Ok(out)
    }

    /// Text, per-character confidences and alternatives of each crop.
    pub fn recognise(&self, crops: &[Crop]) -> Result<Vec<Decoded>> {
        let widths: Vec<u32> = crops.iter().map(|c| c.image.width()).collect();
        let mut out = vec![Decoded::default(); crops.len()];
        for group in recognise::batches(&widths, self.options.rec_batch) {
            let width = group.iter().map(|&i| widths[i]).max().unwrap_or(1).max(8);
            let slot = (3 * REC_HEIGHT * width) as usize;
            let mut data = vec![0f32; slot * group.len()];
            for (k, &i) in group.iter().enumerate() {
                recognise::fill_slot(&crops[i].image, &mut data[k * slot..(k + 1) * slot], width);
            }
            let tensor = TensorRef::from_array_view((
                [group.len(), 3, REC_HEIGHT as usize, width as usize],
                data.as_slice(),
            ))?;
            let shrinking = shrinking_run()?;
            let mut session = self
                .rec
                .lock()
                .map_err(|_| anyhow!("recogniser lock poisoned"))?;
            let outputs = session.run_with_options(ort::inputs![tensor], &shrinking)?;
            let (shape, probs) = outputs[0].try_extract_tensor::<f32>()?;
            let dims: Vec<i64> = shape.iter().copied().collect();
            if dims.len() != 3 || dims[0] as usize != group.len() {
                bail!("unexpected recogniser output shape {dims:?}");
            }
            let (steps, classes) = (dims[1] as usize, dims[2] as usize);
            if classes != self.charset.len() {
                bail!(
                    "the recogniser has {classes} classes but its dictionary gives {}",
                    self.charset.len()
                );
            }
            for (k, &i) in group.iter().enumerate() {
                let seq = &probs[k * steps * classes..(k + 1) * steps * classes];
                out[i] = recognise::ctc_greedy(seq, classes, &self.charset);
            }
        }
        Ok(out)
    }

    fn lines(&self, quads: &[Quad], texts: Vec<Decoded>) -> Vec<OcrLine> {
        let lines: Vec<OcrLine> = quads
            .iter()
            .zip(texts)
            .filter_map(|(q, d)| {
                if d.text.is_empty() {
                    return None;
                }
                let confs = d.confidences;
                let confidence = confs.iter().sum::<f32>() / confs.len().max(1) as f32;
                (confidence >= self.options.drop_score).then_some(OcrLine {
                    text: d.text,
                    confidence,
                    char_confidences: confs,
                    alternatives: d.alternatives,
                    quad: *q,
                })
            })
            .collect();
        layout::order(lines, self.options.merge_gap)
    }
}

/// The page reads upside down: the direction classifier's verdicts, each line's weighted by its
/// length and by how sure the classifier is (probability of 180° less that of 0°), lean to
/// 180°. A line the classifier doubts counts little either way, rather than for upright.
fn page_upside_down(quads: &[Quad], flipped: &[f32]) -> bool {
    let length = |q: &Quad| ((q[1][0] - q[0][0]).powi(2) + (q[1][1] - q[0][1]).powi(2)).sqrt();
    let lean: f32 = quads
        .iter()
        .zip(flipped)
        .map(|(q, &p)| length(q) * (2.0 * p - 1.0))
        .sum();
    lean > 0.0
}

/// Most text (by box area) stands upright: the boxes are much taller than wide.
fn mostly_vertical(quads: &[Quad]) -> bool {
    let d = |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    let (mut vertical, mut all) = (0f32, 0f32);
    for q in quads {
        let (w, h) = (d(q[0], q[1]), d(q[0], q[3]));
        all += w * h;
        if h >= 1.5 * w {
            vertical += w * h;
        }
    }
    all > 0.0 && vertical > 0.5 * all
}

/// How [`OcrEngine::read_with`] treats each line's orientation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lines {
    /// Turned 180° when the direction classifier says so.
    ByClassifier,
    /// As they stand in an image already turned upright.
    AsTheyStand,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_files_name_the_fetch_command() {
        let dir = tempfile::tempdir().unwrap();
        let err = OcrEngine::load(dir.path()).unwrap_err();
        let OcrUnavailable::Missing { files } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(files.len(), 4);
        let msg = err.to_string();
        assert!(msg.contains("xiaoban models fetch pp-ocrv6"), "{msg}");
        assert!(msg.contains("onnxruntime"), "{msg}");
    }

    fn line(x: f32, y: f32, length: f32) -> Quad {
        [
            [x, y],
            [x + length, y],
            [x + length, y + 30.0],
            [x, y + 30.0],
        ]
    }

    #[test]
    fn a_page_whose_lines_lean_upside_down_is_upside_down_though_no_line_is_sure() {
        // Every line more likely upside down than not, none past the per-line threshold (0.9):
        // counting only sure verdicts would leave the page unturned and every line unread.
        let quads = [
            line(10.0, 10.0, 300.0),
            line(10.0, 60.0, 200.0),
            line(10.0, 110.0, 250.0),
        ];
        assert!(page_upside_down(&quads, &[0.8, 0.7, 0.85]));
        assert!(!page_upside_down(&quads, &[0.2, 0.3, 0.15]));
        // A long line the classifier is sure of outweighs short doubtful ones.
        let quads = [
            line(10.0, 10.0, 600.0),
            line(10.0, 60.0, 60.0),
            line(10.0, 110.0, 60.0),
        ];
        assert!(!page_upside_down(&quads, &[0.02, 0.95, 0.95]));
        assert!(page_upside_down(&quads, &[0.98, 0.1, 0.1]));
        assert!(!page_upside_down(&[], &[]));
    }

    #[test]
    fn engine_is_shareable_across_threads() {
        fn sync<T: Send + Sync>() {}
        sync::<OcrEngine>();
    }
}
