//! `xiaoban ocr IMAGE [--json] [--raw]` and `xiaoban ocr --bench DIR`: the debugging and
//! measuring commands over the library (intake → straighten → read upright).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::stats::percentile;
use crate::ocr::{OcrEngine, OcrPage};
use crate::photo::{self, IntakeLimits};

/// What reading one file gave.
#[derive(Debug, Serialize)]
pub struct FileReading {
    pub file: PathBuf,
    /// Where the document was found in the photo, if it was.
    pub document: Option<photo::geometry::Quad>,
    /// Clockwise quarter turns applied to read the text upright, in degrees.
    pub turned: u16,
    /// Milliseconds spent decoding and straightening, before OCR.
    pub prepare_ms: f64,
    pub page: OcrPage,
}

/// Reads one image file as an upload would be read. `raw` skips locating and turning: the
/// decoded image goes to OCR as it is.
pub fn read_file(engine: &OcrEngine, path: &Path, raw: bool) -> Result<FileReading> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let t = Instant::now();
    let upload = photo::intake(&bytes, &IntakeLimits::default())
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if raw {
        let prepare_ms = t.elapsed().as_secs_f64() * 1000.0;
        let page = engine.read(upload.image())?;
        return Ok(FileReading {
            file: path.to_path_buf(),
            document: None,
            turned: 0,
            prepare_ms,
            page,
        });
    }
    let straight = photo::straighten(upload.image());
    // The decoded photo is not needed past straightening; a phone's is 36 MB or more.
    drop(upload);
    // Red and violet-blue ink set aside and a screen's lattice smoothed away, as the verifier
    // does (`photo::ink`, `verify::warning::without_screen_lattice`).
    let smoothed = crate::verify::warning::without_screen_lattice(&straight.image);
    let inkless = photo::without_overprint_ink(smoothed.as_ref().unwrap_or(&straight.image));
    drop(smoothed);
    drop(straight.image);
    let prepare_ms = t.elapsed().as_secs_f64() * 1000.0;
    let upright = engine.read_upright(inkless)?;
    Ok(FileReading {
        file: path.to_path_buf(),
        document: straight.found.map(|f| f.quad),
        turned: upright.turned,
        prepare_ms,
        page: upright.page,
    })
}

/// Human-readable report of one reading.
pub fn format_reading(r: &FileReading) -> String {
    let mut out = String::new();
    let p = &r.page;
    out.push_str(&format!(
        "{}：{} × {} 像素，{} 行",
        r.file.display(),
        p.width,
        p.height,
        p.lines.len()
    ));
    if let Some(q) = r.document {
        out.push_str(&format!(
            "；证件位置 ({:.0},{:.0}) ({:.0},{:.0}) ({:.0},{:.0}) ({:.0},{:.0})",
            q[0][0], q[0][1], q[1][0], q[1][1], q[2][0], q[2][1], q[3][0], q[3][1]
        ));
    }
    if r.turned != 0 {
        out.push_str(&format!("；已旋转 {}°", r.turned));
    }
    out.push('\n');
    for l in &p.lines {
        let lowest = l
            .char_confidences
            .iter()
            .copied()
            .fold(f32::INFINITY, f32::min);
        out.push_str(&format!(
            "{:.3} (最低 {:.3})  [{:.0},{:.0} {:.0}×{:.0}]  {}\n",
            l.confidence,
            if lowest.is_finite() { lowest } else { 0.0 },
            l.quad[0][0],
            l.quad[0][1],
            l.quad[1][0] - l.quad[0][0],
            l.quad[3][1] - l.quad[0][1],
            l.text
        ));
    }
    let t = p.timings;
    out.push_str(&format!(
        "用时：解码与校正 {:.0} ms，检测 {:.0} ms，方向 {:.0} ms，识别 {:.0} ms，OCR 合计 {:.0} ms\n",
        r.prepare_ms, t.detect_ms, t.classify_ms, t.recognise_ms, t.total_ms
    ));
    out
}

/// Latency percentiles and memory over a folder of images.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub images: usize,
    pub rounds: usize,
    pub load_ms: f64,
    /// Resident memory after loading the models, before reading (MB).
    pub rss_loaded_mb: f64,
    /// Peak resident memory of the process at the end (MB).
    pub peak_rss_mb: f64,
    /// Processor time (user + system, all threads) per image read, in ms: less sensitive than
    /// wall-clock latency to other work on the machine.
    pub cpu_ms_per_image: f64,
    pub prepare_ms: Stat,
    pub detect_ms: Stat,
    pub classify_ms: Stat,
    pub recognise_ms: Stat,
    pub total_ms: Stat,
    /// Decoding, straightening and OCR of one image file: what a peer that is handed a file
    /// (RapidOCR's `engine(path)`) is compared with.
    pub end_to_end_ms: Stat,
}

#[derive(Debug, Serialize)]
pub struct Stat {
    pub p50: f64,
    pub p95: f64,
}

fn stat(v: &[f64]) -> Stat {
    Stat {
        p50: percentile(v, 0.5),
        p95: percentile(v, 0.95),
    }
}

/// Loads the engine and reads every image of `dir` `rounds` times (after one warm-up read).
pub fn bench(models_dir: &Path, dir: &Path, rounds: usize, raw: bool) -> Result<BenchReport> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            std::fs::read(p)
                .map(|b| photo::sniff(&b).is_ok())
                .unwrap_or(false)
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{} 中没有可读的图片（JPG、PNG、WebP、BMP）", dir.display());
    }
    let t = Instant::now();
    let engine = OcrEngine::load(models_dir)?;
    let load_ms = t.elapsed().as_secs_f64() * 1000.0;
    let rss_loaded_mb = proc_status_mb("VmRSS");
    read_file(&engine, &files[0], raw)?;
    let mut s: [Vec<f64>; 6] = Default::default();
    let cpu_before = process_cpu_ms();
    for _ in 0..rounds.max(1) {
        for f in &files {
            let r = read_file(&engine, f, raw)?;
            let t = r.page.timings;
            s[0].push(r.prepare_ms);
            s[1].push(t.detect_ms);
            s[2].push(t.classify_ms);
            s[3].push(t.recognise_ms);
            s[4].push(t.total_ms);
            s[5].push(r.prepare_ms + t.total_ms);
        }
    }
    let cpu_ms_per_image = (process_cpu_ms() - cpu_before) / s[4].len().max(1) as f64;
    Ok(BenchReport {
        cpu_ms_per_image,
        images: files.len(),
        rounds: rounds.max(1),
        load_ms,
        rss_loaded_mb,
        peak_rss_mb: proc_status_mb("VmHWM"),
        prepare_ms: stat(&s[0]),
        detect_ms: stat(&s[1]),
        classify_ms: stat(&s[2]),
        recognise_ms: stat(&s[3]),
        total_ms: stat(&s[4]),
        end_to_end_ms: stat(&s[5]),
    })
}

pub fn format_bench(b: &BenchReport) -> String {
    let row =
        |name: &str, s: &Stat| format!("  p50 {:8.1} ms   p95 {:8.1} ms   {name}\n", s.p50, s.p95);
    let mut out = format!(
        "{} 张图片 × {} 轮；加载模型 {:.0} ms，加载后常驻内存 {:.0} MB，峰值 {:.0} MB\n",
        b.images, b.rounds, b.load_ms, b.rss_loaded_mb, b.peak_rss_mb
    );
    out.push_str(&format!(
        "每张图片处理器时间 {:.0} ms（各线程合计，受其他负载影响较小）\n",
        b.cpu_ms_per_image
    ));
    out.push_str(&row("解码校正", &b.prepare_ms));
    out.push_str(&row("检测", &b.detect_ms));
    out.push_str(&row("方向", &b.classify_ms));
    out.push_str(&row("识别", &b.recognise_ms));
    out.push_str(&row("OCR 合计", &b.total_ms));
    out.push_str(&row("解码校正与 OCR", &b.end_to_end_ms));
    out
}

/// User + system processor time of this process so far, in ms (Linux; 0 elsewhere).
fn process_cpu_ms() -> f64 {
    // Fields after the command name in parentheses: state is the first, utime the 12th and
    // stime the 13th, in clock ticks of 1/100 s.
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 1..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) * 10.0)
        })
        .unwrap_or(0.0)
}

/// A `kB` line of `/proc/self/status` in MB (0 where there is no such file).
fn proc_status_mb(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key) && l[key.len()..].starts_with(':'))
                .and_then(|l| {
                    l[key.len() + 1..]
                        .trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// `xiaoban ocr`: one image (text or JSON) or `--bench DIR`.
pub fn run(
    models_dir: &Path,
    image: Option<&Path>,
    bench_dir: Option<&Path>,
    rounds: usize,
    raw: bool,
    json: bool,
) -> Result<()> {
    if let Some(dir) = bench_dir {
        let report = bench(models_dir, dir, rounds, raw)?;
        if json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", format_bench(&report));
        }
        return Ok(());
    }
    let Some(path) = image else {
        bail!("请给出图片文件，或用 --bench 目录 测量速度");
    };
    let engine = OcrEngine::load(models_dir)?;
    let reading = read_file(&engine, path, raw)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&reading)?);
    } else {
        print!("{}", format_reading(&reading));
    }
    Ok(())
}
