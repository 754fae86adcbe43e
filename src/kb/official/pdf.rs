//! PDF files with a text layer: each page's text (lopdf, fonts' ToUnicode maps) as lines,
//! joined back into paragraphs — a line starts a paragraph when it is indented (公文 indent
//! the first line by two characters), when it opens with a heading number, or when the line
//! before it stopped short of the full width. Page numbers (`- 3 -`) are dropped. A file whose
//! pages hold images and no text is a scan; one that needs a password is encrypted.
//! Tables come out as lines of text (a PDF keeps no table structure).

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
    let mut lines: Vec<String> = Vec::new();
    let mut with_images = 0;
    for (number, id) in &pages {
        let text = doc
            .extract_text_with_limit(&[*number], MAX_DECOMPRESSED)
            .unwrap_or_default();
        // A line of nothing but spaces (an indent the writer wrapped onto its own line, a
        // blank line) stays as an empty line: it ends a paragraph.
        // Blank lines at a page's top or bottom are margins, not paragraph breaks.
        let mut page: Vec<String> = text
            .lines()
            .map(|l| l.trim_end().to_string())
            .filter(|l| !is_page_number(l))
            .skip_while(|l| l.trim().is_empty())
            .collect();
        while page.last().is_some_and(|l| l.trim().is_empty()) {
            page.pop();
        }
        let blank = page.is_empty();
        if blank && doc.get_page_images(*id).is_ok_and(|i| !i.is_empty()) {
            with_images += 1;
        }
        lines.extend(page);
    }
    if lines.is_empty() {
        return Err(if with_images > 0 {
            Unreadable::Scanned { pages: pages.len() }
        } else {
            Unreadable::Empty
        });
    }
    Ok(Extracted {
        meta_title: info_title(&doc),
        meta: Vec::new(),
        blocks: paragraphs(&lines)
            .into_iter()
            .map(Block::Paragraph)
            .collect(),
    })
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

/// Lines joined into paragraphs (see the module comment).
fn paragraphs(lines: &[String]) -> Vec<String> {
    let width = |l: &str| -> usize {
        // Display width: a Chinese character is two columns, ASCII one.
        l.trim()
            .chars()
            .map(|c| if c.is_ascii() { 1 } else { 2 })
            .sum()
    };
    let mut widths: Vec<usize> = lines
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| width(l))
        .collect();
    widths.sort_unstable();
    // The full line width: the widest lines but for a few outliers.
    let full = widths[(widths.len() * 9 / 10).min(widths.len() - 1)].max(1);
    let any_indent = lines.iter().any(|l| indented(l));
    let mut out: Vec<String> = Vec::new();
    let mut open = false;
    for line in lines {
        let t = line.trim();
        if t.is_empty() {
            open = false;
            continue;
        }
        let starts = !open
            || any_indent && indented(line)
            || HEADING.is_match(t)
            || out.last().is_some_and(|p: &String| {
                let last_line_width = p.rsplit('\n').next().map_or(0, width);
                last_line_width * 10 < full * 8
            });
        if starts {
            out.push(t.to_string());
        } else if let Some(p) = out.last_mut() {
            p.push('\n');
            p.push_str(t);
        }
        open = true;
    }
    // Lines within a paragraph join without a break (a space between Latin words).
    out.into_iter()
        .map(|p| {
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
            s
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
            paragraphs(&lines),
            vec![
                "关于印发示例办法的通知",
                "为了规范本市的补贴发放工作，根据有关规定，结合实际，制定本办法。",
                "一、适用范围",
                "本办法适用于本市户籍的老年人和残疾人，以及在本市居住满一年的其他人员。",
                "第二段开头，这一行的文字排满了整行的宽度才换",
                "第三段的缩进被写在单独一行上，所以这里没有缩进",
                "另一段。",
            ]
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
