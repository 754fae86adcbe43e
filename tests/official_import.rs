//! `xiaoban import` of official documents as cities publish them: a web page, a Word file and
//! PDFs built here (with 文号, dates, numbered headings, a table and a repeal clause), imported
//! as an administrator would, then indexed and asked through the command line.

use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, Stream, StringFormat, dictionary};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn xiaoban(args: &[&str], root: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xiaoban"))
        .args(args)
        .arg("--data-dir")
        .arg(root.join("data"))
        .arg("--kb")
        .arg(root.join("kb"))
        .current_dir(repo())
        .env("XIAOBAN_GENERATION__BACKEND", "off")
        .output()
        .expect("runs")
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// The demo knowledge base's settings (dictionary, synonyms, routes) without its documents,
/// whose own allowance and subsidy guides would answer the same questions.
fn copy_settings(to: &Path) {
    std::fs::create_dir_all(to.join("documents")).unwrap();
    let src = repo().join("knowledge_base");
    for f in ["synonyms.txt", "user_dict.txt", "routes.toml"] {
        std::fs::copy(src.join(f), to.join(f)).unwrap();
    }
}

/// A Word file with these paragraphs (a row of cells is a `Vec` of more than one string).
fn docx(title: &str, blocks: &[Vec<&str>]) -> Vec<u8> {
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;");
    let para = |s: &str| {
        format!(
            "<w:p><w:r><w:t xml:space=\"preserve\">{}</w:t></w:r></w:p>",
            esc(s)
        )
    };
    let mut body = String::new();
    let mut table: Vec<&Vec<&str>> = Vec::new();
    let flush = |table: &mut Vec<&Vec<&str>>, body: &mut String| {
        if table.is_empty() {
            return;
        }
        body.push_str("<w:tbl>");
        for row in table.drain(..) {
            body.push_str("<w:tr>");
            for c in row {
                body.push_str(&format!("<w:tc>{}</w:tc>", para(c)));
            }
            body.push_str("</w:tr>");
        }
        body.push_str("</w:tbl>");
    };
    for b in blocks {
        if b.len() > 1 {
            table.push(b);
        } else {
            flush(&mut table, &mut body);
            body.push_str(&para(b[0]));
        }
    }
    flush(&mut table, &mut body);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    let parts = [
        (
            "[Content_Types].xml",
            "<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"><Default Extension=\"xml\" ContentType=\"application/xml\"/><Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/></Types>".to_string(),
        ),
        (
            "word/document.xml",
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>{body}</w:body></w:document>"),
        ),
        (
            "docProps/core.xml",
            format!("<?xml version=\"1.0\"?><cp:coreProperties xmlns:cp=\"cp\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:title>{}</dc:title></cp:coreProperties>", esc(title)),
        ),
    ];
    for (name, text) in parts {
        zip.start_file(name, opts).unwrap();
        zip.write_all(text.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// A PDF whose pages show these lines in a CID font (Identity-H) with a ToUnicode map, as
/// word processors write Chinese; `None` for a page that is only a scanned image.
fn pdf(title: &str, pages: &[Option<Vec<&str>>]) -> Vec<u8> {
    let mut out = Vec::new();
    pdf_document(title, pages).save_to(&mut out).unwrap();
    out
}

/// The same PDF, openable only with `password`.
fn locked_pdf(title: &str, pages: &[Option<Vec<&str>>], password: &str) -> Vec<u8> {
    let mut doc = pdf_document(title, pages);
    let id = Object::String(b"0123456789abcdef".to_vec(), StringFormat::Hexadecimal);
    doc.trailer.set("ID", vec![id.clone(), id]);
    let state = lopdf::EncryptionState::try_from(lopdf::EncryptionVersion::V2 {
        document: &doc,
        owner_password: "owner",
        user_password: password,
        key_length: 128,
        permissions: lopdf::Permissions::all(),
    })
    .unwrap();
    doc.encrypt(&state).unwrap();
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

fn pdf_document(title: &str, pages: &[Option<Vec<&str>>]) -> Document {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let mut chars: Vec<char> = pages
        .iter()
        .flatten()
        .flatten()
        .flat_map(|l| l.chars())
        .collect();
    chars.sort_unstable();
    chars.dedup();
    let mut cmap = String::from(
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /Adobe-Identity-UCS def /CMapType 2 def 1 begincodespacerange <0000> <FFFF> endcodespacerange\n",
    );
    for chunk in chars.chunks(100) {
        cmap.push_str(&format!("{} beginbfchar\n", chunk.len()));
        for c in chunk {
            cmap.push_str(&format!("<{:04X}> <{:04X}>\n", *c as u32, *c as u32));
        }
        cmap.push_str("endbfchar\n");
    }
    cmap.push_str("endcmap CMapName currentdict /CMap defineresource pop end end");
    let to_unicode = doc.add_object(Stream::new(dictionary! {}, cmap.into_bytes()));
    let descendant = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "CIDFontType2", "BaseFont" => "SimSun",
        "CIDSystemInfo" => dictionary! { "Registry" => Object::string_literal("Adobe"), "Ordering" => Object::string_literal("Identity"), "Supplement" => 0 },
        "DW" => 1000,
    });
    let font = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type0", "BaseFont" => "SimSun",
        "Encoding" => "Identity-H", "DescendantFonts" => vec![descendant.into()],
        "ToUnicode" => to_unicode,
    });
    let image = doc.add_object(Stream::new(
        dictionary! { "Type" => "XObject", "Subtype" => "Image", "Width" => 2, "Height" => 2,
        "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8 },
        vec![0, 255, 255, 0],
    ));
    let resources = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font },
        "XObject" => dictionary! { "Im1" => image },
    });
    let mut kids = Vec::new();
    for page in pages {
        let mut ops = Vec::new();
        match page {
            Some(lines) => {
                for (i, line) in lines.iter().enumerate() {
                    // Cells split at tabs stand 160 points apart, as a table's columns; a
                    // line opening with `>` is shifted by two characters, as 公文 indent.
                    let (shift, line) = match line.strip_prefix('>') {
                        Some(rest) => (24, rest),
                        None => (0, *line),
                    };
                    let cells: Vec<&str> = line.split('\t').collect();
                    for (k, cell) in cells.iter().enumerate().filter(|(_, c)| !c.is_empty()) {
                        let x = 72 + shift + 160 * k as i64;
                        let bytes: Vec<u8> = cell
                            .chars()
                            .flat_map(|c| (c as u16).to_be_bytes())
                            .collect();
                        ops.extend([
                            Operation::new("BT", vec![]),
                            Operation::new("Tf", vec!["F1".into(), 12.into()]),
                            Operation::new("Td", vec![x.into(), (780 - 18 * i as i64).into()]),
                            Operation::new(
                                "Tj",
                                vec![Object::String(bytes, StringFormat::Hexadecimal)],
                            ),
                            Operation::new("ET", vec![]),
                        ]);
                    }
                }
            }
            None => ops.extend([
                Operation::new("q", vec![]),
                Operation::new(
                    "cm",
                    vec![
                        595.into(),
                        0.into(),
                        0.into(),
                        842.into(),
                        0.into(),
                        0.into(),
                    ],
                ),
                Operation::new("Do", vec!["Im1".into()]),
                Operation::new("Q", vec![]),
            ]),
        }
        let content = doc.add_object(Stream::new(
            dictionary! {},
            Content { operations: ops }.encode().unwrap(),
        ));
        kids.push(
            doc.add_object(dictionary! {
                "Type" => "Page", "Parent" => pages_id, "Contents" => content,
                "Resources" => resources,
            })
            .into(),
        );
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => count,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog);
    let mut utf16 = vec![0xFE, 0xFF];
    utf16.extend(title.encode_utf16().flat_map(u16::to_be_bytes));
    let info =
        doc.add_object(dictionary! { "Title" => Object::String(utf16, StringFormat::Hexadecimal) });
    doc.trailer.set("Info", info);
    doc
}

/// The incoming folder: the 2019 allowance rules (web page), the 2024 rules that repeal them
/// (Word), two versions of the same subsidy rules by the same bureau (PDF, then web page), a
/// scanned PDF, and a file of an unsupported kind.
fn incoming(root: &Path) -> PathBuf {
    let dir = root.join("incoming");
    std::fs::create_dir_all(dir.join("2019")).unwrap();
    std::fs::write(
        dir.join("2019/gaoling-2019.html"),
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>示例市高龄津贴暂行办法_示例市人民政府</title></head><body>\
         <nav>首页 &gt; 政府信息公开</nav>\
         <table class=\"meta\"><tr><td>索引号</td><td>000014349/2019-00008</td><td>发文机关</td><td>示例市人民政府办公室</td></tr>\
         <tr><td>发文字号</td><td>示例府办发〔2019〕8号</td><td>成文日期</td><td>2019年3月1日</td></tr></table>\
         <h1>示例市高龄津贴暂行办法</h1>\
         <p>第一条　为保障高龄老年人基本生活，制定本办法。</p>\
         <p>第二条　本市户籍、年满八十周岁的老年人，每人每月发放高龄津贴五十元。</p>\
         <p>第三条　本办法自2019年4月1日起施行。</p>\
         <footer>主办：示例市人民政府办公室</footer></body></html>",
    )
    .unwrap();
    std::fs::write(
        dir.join("gaoling-2024.docx"),
        docx(
            "",
            &[
                vec!["示例市人民政府办公室文件"],
                vec!["示例府办发〔2024〕12号"],
                vec!["示例市人民政府办公室关于印发"],
                vec!["示例市高龄津贴发放办法的通知"],
                vec!["各区人民政府，市政府各委、办、局："],
                vec!["现将《示例市高龄津贴发放办法》印发给你们，请认真贯彻执行。"],
                vec!["一、发放对象"],
                vec!["本市户籍、年满八十周岁的老年人，按月领取高龄津贴。"],
                vec!["二、发放标准"],
                vec!["（一）分档标准。高龄津贴按年龄分档，标准如下表。"],
                vec!["年龄段", "每人每月"],
                vec!["八十至八十九周岁", "一百元"],
                vec!["九十周岁以上", "三百元"],
                vec!["（二）发放方式。高龄津贴按月发放到本人社会保障卡。"],
                vec!["三、附则"],
                vec![
                    "本办法自2024年3月1日起施行，有效期至2028年12月31日。《示例市高龄津贴暂行办法》（示例府办发〔2019〕8号）同时废止。",
                ],
                vec!["示例市人民政府办公室"],
                vec!["2024年1月15日"],
            ],
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("linghuo-2023.pdf"),
        pdf(
            "示例市灵活就业人员社会保险补贴办法",
            &[Some(vec![
                "示例人社规〔2023〕5号",
                "示例市灵活就业人员社会保险补贴办法",
                "第一条　灵活就业人员社会保险补贴标准为每月二百元，补贴期限最长",
                "三年。",
                ">补贴按人员类别发放，各类人员的补贴标准以下表为准，申请人",
                "向户籍所在地的街道提出申请。",
                ">经审核符合条件的，按月发放。",
                "人员类别\t每月补贴",
                "就业困难人员\t二百元",
                "离校未就业高校毕业\t一百五十",
                "\t元",
                "第二条　本办法自2023年7月1日起施行。",
                "示例市人力资源和社会保障局",
                "2023年6月1日",
            ])],
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("linghuo-2025.html"),
        "<html><head><title>示例市灵活就业人员社会保险补贴办法</title></head><body>\
         <p>示例人社规〔2025〕1号</p><p>示例市灵活就业人员社会保险补贴办法</p>\
         <p>第一条　灵活就业人员社会保险补贴标准为每月三百元，补贴期限最长三年。</p>\
         <p>第二条　本办法自2025年1月1日起施行。</p>\
         <p>示例市人力资源和社会保障局</p><p>2024年12月1日</p></body></html>",
    )
    .unwrap();
    std::fs::write(dir.join("scan.pdf"), pdf("", &[None, None])).unwrap();
    std::fs::write(
        dir.join("locked.pdf"),
        locked_pdf("内部文件", &[Some(vec!["内部文件", "正文。"])], "secret"),
    )
    .unwrap();
    std::fs::write(dir.join("2019/empty.html"), " \n\n ").unwrap();
    std::fs::write(dir.join("readme.txt"), "说明").unwrap();
    dir
}

fn listing(dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

fn file<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("{name} in {report:#}"))
}

#[test]
fn official_documents_import_with_their_identity_and_history() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    copy_settings(&root.join("kb"));
    let docs = root.join("kb/documents");
    let incoming = incoming(root);
    let before = listing(&docs);
    let inc = incoming.to_str().unwrap();

    // A dry run reports everything and writes nothing.
    let dry = json(&xiaoban(&["import", inc, "--dry-run", "--json"], root));
    assert_eq!(file(&dry, "gaoling-2024.docx")["status"], "would_write");
    assert_eq!(listing(&docs), before);

    let report = json(&xiaoban(&["import", inc, "--json"], root));
    // The Word file: every field, its sections, its table.
    let w = file(&report, "gaoling-2024.docx");
    assert_eq!(w["status"], "written", "{w:#}");
    assert_eq!(w["id"], "gaoling-2024");
    assert_eq!(
        w["title"],
        "示例市人民政府办公室关于印发示例市高龄津贴发放办法的通知"
    );
    assert_eq!(
        w["fields"],
        serde_json::json!([
            "标题",
            "文号",
            "发文机关",
            "成文日期",
            "施行日期",
            "有效期至",
            "废止条款"
        ])
    );
    assert_eq!(w["sections"], 4);
    assert_eq!(w["tables"], 1);
    let text = std::fs::read_to_string(docs.join("gaoling-2024.md")).unwrap();
    for line in [
        "id = \"gaoling-2024\"",
        "kind = \"policy\"",
        "issuing_body = \"示例市人民政府办公室\"",
        "doc_no = \"示例府办发〔2024〕12号\"",
        "issued_on = 2024-01-15",
        "effective_from = 2024-03-01",
        "effective_to = 2028-12-31",
        "## 一、发放对象",
        "## 二、发放标准 （一）分档标准",
        "| 年龄段 | 每人每月 |",
        "| 九十周岁以上 | 三百元 |",
        "## （二）发放方式",
        "## 三、附则",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    assert!(
        !text.contains("2024年1月15日"),
        "the signature date is a field, not text"
    );

    // The web page: fields from its metadata box, articles as sections; repealed by the Word
    // file, so it ends the day before that takes effect.
    let h = file(&report, "gaoling-2019.html");
    assert_eq!(h["title"], "示例市高龄津贴暂行办法");
    assert_eq!(h["sections"], 3);
    let old = std::fs::read_to_string(docs.join("gaoling-2019.md")).unwrap();
    for line in [
        "doc_no = \"示例府办发〔2019〕8号\"",
        "issuing_body = \"示例市人民政府办公室\"",
        "issued_on = 2019-03-01",
        "effective_from = 2019-04-01",
        "effective_to = 2024-02-29",
        "## 第二条",
    ] {
        assert!(old.lines().any(|l| l == line), "{line} in\n{old}");
    }
    assert!(!old.contains("首页"), "navigation is not text");

    // The PDF: fields from the text layer; superseded by the 2025 web page of the same bureau.
    let p = file(&report, "linghuo-2023.pdf");
    assert_eq!(p["title"], "示例市灵活就业人员社会保险补贴办法");
    let v2023 = std::fs::read_to_string(docs.join("linghuo-2023.md")).unwrap();
    for line in [
        "doc_no = \"示例人社规〔2023〕5号\"",
        "issuing_body = \"示例市人力资源和社会保障局\"",
        "effective_from = 2023-07-01",
        "superseded_by = \"linghuo-2025\"",
        "灵活就业人员社会保险补贴标准为每月二百元，补贴期限最长三年。",
        // Paragraphs told apart by where their first line starts, not by spaces in the text.
        "补贴按人员类别发放，各类人员的补贴标准以下表为准，申请人向户籍所在地的街道提出申请。",
        "经审核符合条件的，按月发放。",
        // Cells by where they stand; a cell's wrapped text continues its cell.
        "| 人员类别 | 每月补贴 |",
        "| 就业困难人员 | 二百元 |",
        "| 离校未就业高校毕业 | 一百五十元 |",
    ] {
        assert!(v2023.lines().any(|l| l == line), "{line} in\n{v2023}");
    }
    assert_eq!(p["tables"], 1);
    let changes = report["changes"].to_string();
    assert!(
        changes.contains("gaoling-2019") && changes.contains("废止"),
        "{changes}"
    );
    assert!(
        changes.contains("linghuo-2023") && changes.contains("替代"),
        "{changes}"
    );

    // The scan and the text file are refused, with the reason and what to do.
    let scan = file(&report, "scan.pdf");
    assert_eq!(scan["status"], "skipped");
    let why = scan["reason"].as_str().unwrap();
    assert!(why.contains("扫描件") && why.contains("OCR"), "{why}");
    assert!(!docs.join("scan.md").exists());
    let locked = file(&report, "locked.pdf")["reason"].as_str().unwrap();
    assert!(locked.contains("加密"), "{locked}");
    let empty = file(&report, "empty.html")["reason"].as_str().unwrap();
    assert!(empty.contains("没有正文"), "{empty}");
    let unsupported = report["unsupported"].to_string();
    assert!(
        unsupported.contains("readme.txt") && unsupported.contains(".txt"),
        "{unsupported}"
    );

    // Importing the same files again changes nothing.
    let after = listing(&docs);
    let again = json(&xiaoban(&["import", inc, "--json"], root));
    assert_eq!(file(&again, "gaoling-2024.docx")["status"], "unchanged");
    assert_eq!(file(&again, "linghuo-2023.pdf")["status"], "unchanged");
    assert_eq!(listing(&docs), after);

    // Indexed and asked: the repealed and the superseded versions are never cited.
    let out = xiaoban(&["index", "--json"], root);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for (question, current, gone) in [
        ("高龄津贴每月发多少钱", "gaoling-2024", "gaoling-2019"),
        (
            "灵活就业人员社会保险补贴标准是多少",
            "linghuo-2025",
            "linghuo-2023",
        ),
    ] {
        let hits = json(&xiaoban(
            &["search", question, "--json", "--limit", "20"],
            root,
        ));
        let ids = hits.to_string();
        assert!(ids.contains(current), "{question}: {ids}");
        assert!(!ids.contains(gone), "{question}: {ids}");
        let reply = json(&xiaoban(&["ask", question, "--json"], root));
        let cited: Vec<&str> = reply["citations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["doc_id"].as_str().unwrap())
            .collect();
        assert_eq!(cited.first(), Some(&current), "{question}: {reply:#}");
        assert!(!cited.contains(&gone), "{question}: {reply:#}");
    }
}

#[test]
fn an_administrators_edit_is_kept_unless_replace() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("kb/documents")).unwrap();
    let page = root.join("notice.htm");
    std::fs::write(
        &page,
        "<html><body><p>示例市关于调整公交票价的通知</p><p>各有关单位：</p><p>一、票价</p><p>普通线路票价为二元。</p><p>示例市交通运输局</p><p>2024年5月6日</p></body></html>",
    )
    .unwrap();
    let page_arg = page.to_str().unwrap();
    json(&xiaoban(&["import", page_arg, "--json"], root));
    let path = root.join("kb/documents/notice.md");
    let edited = std::fs::read_to_string(&path)
        .unwrap()
        .replace("tags = [\"导入\"]", "tags = [\"导入\", \"手工标签\"]");
    std::fs::write(&path, &edited).unwrap();
    let r = json(&xiaoban(&["import", page_arg, "--json"], root));
    let why = file(&r, "notice.htm")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(why.contains("--replace"), "{why}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), edited);
    let r = json(&xiaoban(&["import", page_arg, "--replace", "--json"], root));
    assert_eq!(file(&r, "notice.htm")["status"], "written");
    assert!(!std::fs::read_to_string(&path).unwrap().contains("手工标签"));
    // The plain report names what was found.
    let out = xiaoban(&["import", page_arg], root);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("识别 标题、发文机关、成文日期"), "{text}");
    assert!(text.contains("未变"), "{text}");
}
