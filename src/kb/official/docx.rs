//! Word files (.docx): `word/document.xml` read as XML — paragraphs (`w:p`, their runs' `w:t`
//! text, tabs and breaks) and tables (`w:tbl` rows and cells) in order — and the title from
//! `docProps/core.xml`. Deleted revisions and field codes are not text and are left out.

use super::{Block, Extracted, Unreadable};
use quick_xml::events::Event;
use std::io::Read;

/// Decompressed XML parts larger than this are refused (a zip bomb, not a policy).
const MAX_PART_BYTES: u64 = 64 * 1024 * 1024;

fn part(zip: &mut zip::ZipArchive<std::io::Cursor<&[u8]>>, name: &str) -> Option<String> {
    let file = zip.by_name(name).ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_PART_BYTES + 1).read_to_end(&mut bytes).ok()?;
    (bytes.len() as u64 <= MAX_PART_BYTES).then(|| String::from_utf8_lossy(&bytes).into_owned())
}

/// Reads a .docx file.
pub fn read(bytes: &[u8]) -> Result<Extracted, Unreadable> {
    // An OLE compound file: a password-protected .docx (or an old .doc renamed).
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
        let text = String::from_utf8_lossy(bytes);
        return Err(
            if text.contains("EncryptedPackage")
                || bytes
                    .windows(32)
                    .any(|w| w == utf16("EncryptedPackage").as_slice())
            {
                Unreadable::Encrypted
            } else {
                Unreadable::Unsupported("这是旧版 Word（.doc）文件：请另存为 .docx 后导入".into())
            },
        );
    }
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| Unreadable::Malformed(format!("不是有效的 .docx（ZIP）文件：{e}")))?;
    let document = part(&mut zip, "word/document.xml").ok_or_else(|| {
        Unreadable::Malformed("缺少 word/document.xml 或其过大，不是 Word 文档".into())
    })?;
    let blocks = body(&document)?;
    let meta_title = part(&mut zip, "docProps/core.xml").and_then(|core| core_title(&core));
    if blocks.is_empty() {
        return Err(Unreadable::Empty);
    }
    Ok(Extracted {
        meta_title,
        meta: Vec::new(),
        blocks,
    })
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

fn entity(name: &str) -> String {
    quick_xml::escape::unescape(&format!("&{name};"))
        .map(|c| c.into_owned())
        .unwrap_or_default()
}

fn core_title(xml: &str) -> Option<String> {
    let mut r = quick_xml::Reader::from_str(xml);
    let mut inside = false;
    let mut title = String::new();
    loop {
        match r.read_event().ok()? {
            Event::Start(e) if e.local_name().as_ref() == "title" => inside = true,
            Event::End(e) if e.local_name().as_ref() == "title" => break,
            Event::Text(t) if inside => title.push_str(&t.xml10_content()),
            Event::GeneralRef(g) if inside => title.push_str(&entity(&g.xml10_content())),
            Event::Eof => break,
            _ => {}
        }
    }
    let t = title.trim().to_string();
    (!t.is_empty()).then_some(t)
}

#[derive(Default)]
struct Table {
    rows: Vec<Vec<Vec<String>>>,
}

/// Paragraphs and tables of `word/document.xml`.
fn body(xml: &str) -> Result<Vec<Block>, Unreadable> {
    let mut r = quick_xml::Reader::from_str(xml);
    let mut blocks = Vec::new();
    let mut tables: Vec<Table> = Vec::new();
    let mut para = String::new();
    let mut in_text = false;
    let mut in_para = false;
    let flush = |para: &mut String, tables: &mut Vec<Table>, blocks: &mut Vec<Block>| {
        let t = para.trim().to_string();
        para.clear();
        if t.is_empty() {
            return;
        }
        match tables.last_mut() {
            Some(table) => match table.rows.last_mut().and_then(|r| r.last_mut()) {
                Some(cell) => cell.push(t),
                None => blocks.push(Block::Paragraph(t)),
            },
            None => blocks.push(Block::Paragraph(t)),
        }
    };
    loop {
        let event = r
            .read_event()
            .map_err(|e| Unreadable::Malformed(format!("word/document.xml 有误：{e}")))?;
        match event {
            Event::Start(e) => match e.local_name().as_ref() {
                "p" => {
                    in_para = true;
                    para.clear();
                }
                "t" => in_text = true,
                "tbl" => tables.push(Table::default()),
                "tr" => {
                    if let Some(t) = tables.last_mut() {
                        t.rows.push(Vec::new());
                    }
                }
                "tc" => {
                    if let Some(r) = tables.last_mut().and_then(|t| t.rows.last_mut()) {
                        r.push(Vec::new());
                    }
                }
                _ => {}
            },
            Event::Empty(e) => match e.local_name().as_ref() {
                "tab" if in_para => para.push(' '),
                "br" | "cr" if in_para => para.push(' '),
                "tc" => {
                    if let Some(r) = tables.last_mut().and_then(|t| t.rows.last_mut()) {
                        r.push(Vec::new());
                    }
                }
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                "p" => {
                    in_para = false;
                    flush(&mut para, &mut tables, &mut blocks);
                }
                "t" => in_text = false,
                "tbl" => {
                    let t = tables.pop().unwrap_or_default();
                    let rows: Vec<Vec<String>> = t
                        .rows
                        .into_iter()
                        .filter(|r| !r.is_empty())
                        .map(|r| r.into_iter().map(|c| c.join(" ")).collect())
                        .collect();
                    if rows.is_empty() {
                        continue;
                    }
                    match tables
                        .last_mut()
                        .and_then(|o| o.rows.last_mut())
                        .and_then(|r| r.last_mut())
                    {
                        // A table inside a cell: its rows become lines of that cell.
                        Some(cell) => cell.extend(rows.into_iter().map(|r| r.join(" "))),
                        None => {
                            let width = rows.iter().map(Vec::len).max().unwrap_or(0);
                            if width <= 1 {
                                blocks.extend(rows.into_iter().flatten().map(Block::Paragraph));
                            } else {
                                blocks.push(Block::Table(rows));
                            }
                        }
                    }
                }
                _ => {}
            },
            Event::Text(t) if in_text => para.push_str(&t.xml10_content()),
            Event::CData(t) if in_text => para.push_str(&t.xml10_content()),
            Event::GeneralRef(g) if in_text => match g.resolve_char_ref() {
                Ok(Some(c)) => para.push(c),
                _ => para.push_str(&entity(&g.xml10_content())),
            },
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_runs_and_tables_in_order() {
        let xml = r#"<?xml version="1.0"?><w:document xmlns:w="w"><w:body>
            <w:p><w:r><w:t>第一条</w:t></w:r><w:r><w:tab/><w:t xml:space="preserve">为了 &amp; 规范</w:t></w:r></w:p>
            <w:p><w:r><w:delText>删掉的</w:delText><w:instrText>PAGE</w:instrText></w:r></w:p>
            <w:tbl><w:tr><w:tc><w:p><w:r><w:t>类别</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>标准</w:t></w:r></w:p></w:tc></w:tr>
            <w:tr><w:tc><w:p><w:r><w:t>一档</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>&#50;00元</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
            </w:body></w:document>"#;
        assert_eq!(
            body(xml).unwrap(),
            vec![
                Block::Paragraph("第一条 为了 & 规范".into()),
                Block::Table(vec![
                    vec!["类别".into(), "标准".into()],
                    vec!["一档".into(), "200元".into()]
                ]),
            ]
        );
    }

    #[test]
    fn not_a_docx_says_why() {
        assert!(matches!(
            read(b"PK\x03\x04garbage"),
            Err(Unreadable::Malformed(_))
        ));
        let mut ole = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
        ole.extend(utf16("EncryptedPackage"));
        assert_eq!(read(&ole), Err(Unreadable::Encrypted));
        assert!(matches!(
            read(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0, 0]),
            Err(Unreadable::Unsupported(_))
        ));
    }
}
