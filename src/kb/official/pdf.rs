//! PDF files with a text layer: each page's text (lopdf, fonts' ToUnicode maps) as lines,
//! joined back into paragraphs — a line starts a paragraph when it is indented (公文 indent
//! the first line by two characters), when it opens with a heading number, or when the line
//! before it stopped short of the full width. Page numbers (`- 3 -`) are dropped. A file whose
//! pages hold images and no text is a scan; one that needs a password is encrypted.
//! Tables come out as lines of text (a PDF keeps no table structure).

use super::pdf_page;
use super::{Block, Extracted, HEADING, Unreadable};
use lopdf::{Document, LoadOptions, Object};

/// Decompressed content beyond this, per page or in all, is refused (a bomb, not a policy).
const MAX_DECOMPRESSED: usize = 64 * 1024 * 1024;

/// Reads a PDF's text layer.
pub fn read(bytes: &[u8]) -> Result<Extracted, Unreadable> {
    if !bytes.starts_with(b"%PDF")
        && !bytes[..bytes.len().min(1024)]
            .windows(4)
            .any(|w| w == b"%PDF")
    {
        return Err(Unreadable::Malformed(
            "不是 PDF 文件（缺少 %PDF 文件头）".into(),
        ));
    }
    // lopdf reads hostile input; a panic inside it must not end the whole import.
    std::panic::catch_unwind(|| read_unchecked(bytes))
        .unwrap_or_else(|_| Err(Unreadable::Malformed("PDF 结构无法解析".into())))
}

fn read_unchecked(bytes: &[u8]) -> Result<Extracted, Unreadable> {
    let options = LoadOptions {
        max_decompressed_size: Some(MAX_DECOMPRESSED),
        ..LoadOptions::default()
    };
    let doc = match Document::load_mem_with_options(bytes, options) {
        Ok(d) => d,
        Err(e) => {
            let encrypted = bytes.windows(8).any(|w| w == b"/Encrypt");
            return Err(if encrypted {
                Unreadable::Encrypted
            } else {
                Unreadable::Malformed(format!("PDF 结构无法解析：{e}"))
            });
        }
    };
    if doc.is_encrypted() {
        return Err(Unreadable::Encrypted);
    }
    let pages = doc.get_pages();
    if pages.is_empty() {
        return Err(Unreadable::Empty);
    }
    let mut printed: Vec<Printed> = Vec::new();
    let mut with_images = 0;
    for id in pages.values() {
        let page = pdf_page::lines(&doc, *id, MAX_DECOMPRESSED).unwrap_or_default();
        let before = printed.len();
        printed.extend(page_lines(page));
        if printed.len() == before && doc.get_page_images(*id).is_ok_and(|i| !i.is_empty()) {
            with_images += 1;
        }
    }
    if printed.is_empty() {
        return Err(if with_images > 0 {
            Unreadable::Scanned { pages: pages.len() }
        } else {
            Unreadable::Empty
        });
    }
    Ok(Extracted {
        meta_title: info_title(&doc),
        meta: Vec::new(),
        blocks: blocks(printed),
    })
}

/// A printed line as the reader sees it: text, or a table row's cells.
#[derive(Debug, Clone, PartialEq)]
enum Printed {
    /// A line of text, with where it starts and its font size.
    Text(String, f32, f32),
    Row(Vec<(f32, String)>),
}

/// One page's lines without its page number and its blank margins. A line indented by about
/// two characters from the page's left edge (the 公文 first-line indent, drawn as a shift rather
/// than as spaces) keeps that indent as two ideographic spaces; a line of nothing but spaces (an
/// indent the writer wrapped onto its own line) stays as an empty line: it ends a paragraph.
fn page_lines(lines: Vec<pdf_page::Line>) -> Vec<Printed> {
    let lines: Vec<pdf_page::Line> = lines
        .into_iter()
        .filter(|l| !is_page_number(&l.text()))
        .collect();
    let margin = lines
        .iter()
        .filter(|l| l.cells.len() == 1 && !l.text().trim().is_empty())
        .map(|l| l.x)
        .fold(f32::INFINITY, f32::min);
    let mut out: Vec<Printed> = lines
        .into_iter()
        .map(|l| {
            if l.cells.len() > 1 {
                return Printed::Row(l.cells);
            }
            let text = l.text().trim_end().to_string();
            let shift = (l.x - margin) / l.size;
            let text = if (1.5..3.0).contains(&shift) && !text.starts_with(char::is_whitespace) {
                format!("\u{3000}\u{3000}{text}")
            } else {
                text
            };
            Printed::Text(text, l.x, l.size)
        })
        .skip_while(|p| matches!(p, Printed::Text(t, ..) if t.trim().is_empty()))
        .collect();
    while matches!(out.last(), Some(Printed::Text(t, ..)) if t.trim().is_empty()) {
        out.pop();
    }
    out
}

/// Lines into blocks: two or more rows of cells in a row are a table (a line whose cells all
/// stand under the table's columns, but not under the first, continues the row above: a cell's
/// text wrapped); a lone row is a line of text; text lines join into paragraphs.
fn blocks(printed: Vec<Printed>) -> Vec<Block> {
    let mut pieces: Vec<Piece> = Vec::new();
    let mut table: Vec<Vec<(f32, String)>> = Vec::new();
    for line in printed {
        match line {
            Printed::Row(cells) => table.push(cells),
            Printed::Text(t, x, size) => {
                let column = table.first().and_then(|head| {
                    head.iter()
                        .position(|(left, _)| (left - x).abs() < size)
                        .filter(|c| *c > 0)
                });
                match (column, table.last_mut()) {
                    (Some(c), Some(row)) if c < row.len() => row[c].1.push_str(t.trim()),
                    _ => {
                        end_table(&mut table, &mut pieces);
                        pieces.push(Piece::Line(t));
                    }
                }
            }
        }
    }
    end_table(&mut table, &mut pieces);
    paragraphs(pieces)
}

/// What the paragraph joiner reads: a line of text, or a table already whole.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Line(String),
    Table(Vec<Vec<String>>),
}

/// Rows gathered so far: two or more are a table; a lone row is a line of text with its cells
/// joined.
fn end_table(table: &mut Vec<Vec<(f32, String)>>, pieces: &mut Vec<Piece>) {
    let mut rows: Vec<Vec<String>> = table
        .drain(..)
        .map(|row| row.into_iter().map(|(_, t)| t).collect())
        .collect();
    match rows.len() {
        0 => {}
        1 => pieces.push(Piece::Line(rows.remove(0).join(" "))),
        _ => pieces.push(Piece::Table(rows)),
    }
}

fn is_page_number(line: &str) -> bool {
    let t = line.trim_matches(|c: char| c.is_whitespace() || matches!(c, '-' | '—' | '－' | '–'));
    !t.is_empty() && t.len() <= 4 && t.chars().all(|c| c.is_ascii_digit())
}

/// The document information dictionary's `/Title`.
fn info_title(doc: &Document) -> Option<String> {
    let info = match doc.trailer.get(b"Info").ok()? {
        Object::Reference(id) => doc.get_dictionary(*id).ok()?,
        Object::Dictionary(d) => d,
        _ => return None,
    };
    let Object::String(bytes, _) = info.get(b"Title").ok()? else {
        return None;
    };
    let text = text_string(bytes);
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// A PDF text string: UTF-16BE with a byte-order mark, UTF-8 with one, else PDFDocEncoding
/// (read as Latin-1, which it equals for printable text).
fn text_string(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8_lossy(rest).into_owned();
    }
    bytes.iter().map(|b| *b as char).collect()
}

fn indented(line: &str) -> bool {
    line.starts_with("　") || line.starts_with("  ")
}

/// Lines joined into paragraphs (see the module comment); a table ends the paragraph before it.
fn paragraphs(pieces: Vec<Piece>) -> Vec<Block> {
    let width = |l: &str| -> usize {
        // Display width: a Chinese character is two columns, ASCII one.
        l.trim()
            .chars()
            .map(|c| if c.is_ascii() { 1 } else { 2 })
            .sum()
    };
    let lines = || {
        pieces.iter().filter_map(|p| match p {
            Piece::Line(l) => Some(l.as_str()),
            Piece::Table(_) => None,
        })
    };
    let mut widths: Vec<usize> = lines().filter(|l| !l.is_empty()).map(width).collect();
    widths.sort_unstable();
    // The full line width: the widest lines but for a few outliers.
    let full = widths
        .get((widths.len() * 9 / 10).min(widths.len().saturating_sub(1)))
        .copied()
        .unwrap_or(1)
        .max(1);
    let any_indent = lines().any(indented);
    let mut out: Vec<Block> = Vec::new();
    let mut open = false;
    for piece in &pieces {
        let line = match piece {
            Piece::Table(rows) => {
                out.push(Block::Table(rows.clone()));
                open = false;
                continue;
            }
            Piece::Line(line) => line,
        };
        let t = line.trim();
        if t.is_empty() {
            open = false;
            continue;
        }
        let last = match out.last_mut() {
            Some(Block::Paragraph(p)) if open => Some(p),
            _ => None,
        };
        let starts = last.is_none()
            || any_indent && indented(line)
            || HEADING.is_match(t)
            || last.as_ref().is_some_and(|p| {
                let last_line_width = p.rsplit('\n').next().map_or(0, width);
                last_line_width * 10 < full * 8
            });
        match last {
            Some(p) if !starts => {
                p.push('\n');
                p.push_str(t);
            }
            _ => out.push(Block::Paragraph(t.to_string())),
        }
        open = true;
    }
    // Lines within a paragraph join without a break (a space between Latin words).
    out.into_iter()
        .map(|b| match b {
            Block::Paragraph(p) => {
                let mut s = String::new();
                for (i, l) in p.split('\n').enumerate() {
                    if i > 0
                        && s.chars().last().is_some_and(|c| c.is_ascii_alphanumeric())
                        && l.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
                    {
                        s.push(' ');
                    }
                    s.push_str(l);
                }
                Block::Paragraph(s)
            }
            table => table,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_lines_become_paragraphs() {
        let l = |s: &str| s.to_string();
        let lines = vec![
            l("关于印发示例办法的通知"),
            l("　　为了规范本市的补贴发放工作，根据有关规定，"),
            l("结合实际，制定本办法。"),
            l("一、适用范围"),
            l("　　本办法适用于本市户籍的老年人和残疾人，以及在本"),
            l("市居住满一年的其他人员。"),
            l("　　第二段开头，这一行的文字排满了整行的宽度才换"),
            l("　"),
            l("第三段的缩进被写在单独一行上，所以这里没有缩进"),
            l(""),
            l("另一段。"),
        ];
        assert_eq!(
            paragraphs(lines.into_iter().map(Piece::Line).collect()),
            [
                "关于印发示例办法的通知",
                "为了规范本市的补贴发放工作，根据有关规定，结合实际，制定本办法。",
                "一、适用范围",
                "本办法适用于本市户籍的老年人和残疾人，以及在本市居住满一年的其他人员。",
                "第二段开头，这一行的文字排满了整行的宽度才换",
                "第三段的缩进被写在单独一行上，所以这里没有缩进",
                "另一段。",
            ]
            .map(|p| Block::Paragraph(p.to_string()))
        );
        assert!(is_page_number("- 12 -"));
        assert!(!is_page_number("2024年"));
        assert_eq!(text_string(&[0xFE, 0xFF, 0x4E, 0x2D]), "中");
    }

    #[test]
    fn not_a_pdf_is_refused() {
        assert!(matches!(read(b"hello"), Err(Unreadable::Malformed(_))));
        assert!(matches!(
            read(b"%PDF-1.4\ngarbage"),
            Err(Unreadable::Malformed(_))
        ));
    }
}
