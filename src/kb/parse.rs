//! Parsing one knowledge-base file: TOML front matter between `+++` lines, then Markdown
//! sections. Every problem is reported with the file, the line and the field it concerns.

use super::document::{Aspect, DocKind, Document, FrontMatter, Section, Situation};
use std::fmt;
use std::path::{Path, PathBuf};

/// A problem in one document, precise enough to fix without searching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocProblem {
    pub file: PathBuf,
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl fmt::Display for DocProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: [{}] {}",
            self.file.display(),
            self.line,
            self.field,
            self.message
        )
    }
}

const GUIDE_SECTIONS: &[&str] = &[
    "实施机关",
    "设定依据",
    "受理条件",
    "办理流程",
    "办理时限",
    "收费标准",
    "办理地点",
    "办理时间",
    "咨询电话",
    "办理结果",
    "到现场次数",
];
const LIFE_EVENT_SECTIONS: &[&str] = &[
    "适用对象",
    "包含事项",
    "申请材料",
    "办理流程",
    "办理地点",
    "咨询电话",
];

/// The line (1-based) on which `key = …` stands in the front matter, if it does.
fn key_line(front: &str, key: &str) -> Option<usize> {
    front.lines().position(|l| {
        l.trim_start()
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
    })
}

/// Parses one file's text. `file` is only used in the problems reported.
pub fn parse_document(file: &Path, text: &str) -> Result<Document, Vec<DocProblem>> {
    let problem = |line: usize, field: &str, message: String| DocProblem {
        file: file.to_path_buf(),
        line,
        field: field.to_string(),
        message,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    if lines.first().map(|l| l.trim_end()) != Some("+++") {
        return Err(vec![problem(
            1,
            "front matter",
            "文件必须以一行 +++ 开始，后接 TOML 格式的文档信息".into(),
        )]);
    }
    let Some(close) = lines.iter().skip(1).position(|l| l.trim_end() == "+++") else {
        return Err(vec![problem(
            1,
            "front matter",
            "文档信息没有以一行 +++ 结束".into(),
        )]);
    };
    let close = close + 1; // index of the closing line
    let front = lines[1..close].join("\n");
    let meta: FrontMatter = match toml::from_str(&front) {
        Ok(m) => m,
        Err(e) => {
            let msg = e.message().to_string();
            // The field named in the message, else the key on the line the error points at.
            let field = regex_field(&msg).or_else(|| {
                let span = e.span()?;
                let line = front[..span.start.min(front.len())].lines().count().max(1);
                let text = front.lines().nth(line - 1)?;
                let key = text.split('=').next()?.trim();
                (!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                    .then(|| key.to_string())
            });
            let line = match (&field, e.span()) {
                (Some(f), _) if key_line(&front, f).is_some() => key_line(&front, f).unwrap() + 2,
                (_, Some(span)) => front[..span.start.min(front.len())].matches('\n').count() + 2,
                _ => 1,
            };
            return Err(vec![problem(
                line,
                field.as_deref().unwrap_or("front matter"),
                format!("文档信息有误：{}", msg.trim()),
            )]);
        }
    };
    let fm_line = |key: &str| key_line(&front, key).map_or(1, |l| l + 2);
    let mut problems = Vec::new();
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if meta.id.as_str() != stem {
        problems.push(problem(
            fm_line("id"),
            "id",
            format!("id“{}”与文件名“{stem}.md”不一致", meta.id),
        ));
    }
    if meta.title.trim().is_empty() {
        problems.push(problem(fm_line("title"), "title", "标题不能为空".into()));
    }
    if let Some(end) = meta.effective_to
        && end < meta.effective_from
    {
        problems.push(problem(
            fm_line("effective_to"),
            "effective_to",
            format!("失效日期 {end} 早于生效日期 {}", meta.effective_from),
        ));
    }
    if meta.superseded_by.as_ref() == Some(&meta.id) {
        problems.push(problem(
            fm_line("superseded_by"),
            "superseded_by",
            "文档不能被自身替代".into(),
        ));
    }
    if meta.kind == DocKind::Guide && meta.item_type.as_deref().is_none_or(str::is_empty) {
        problems.push(problem(
            fm_line("kind"),
            "item_type",
            "办事指南必须写明事项类型 item_type（如 行政许可、行政确认）".into(),
        ));
    }

    let body_start = close + 1; // index of the first body line
    let body_lines = &lines[body_start..];
    let body = body_lines.join("\n");
    let (summary, sections) = split_sections(body_lines, body_start + 1);

    for s in &sections {
        if s.body.trim().is_empty() && s.situations.is_empty() {
            problems.push(problem(
                s.line,
                &format!("section {}", s.heading),
                format!("“{}”一节没有内容", s.heading),
            ));
        }
    }
    let has = |h: &str| sections.iter().any(|s| s.heading == h);
    let missing_line = body_start + 1;
    match meta.kind {
        DocKind::Guide => {
            for h in GUIDE_SECTIONS {
                if !has(h) {
                    problems.push(problem(
                        missing_line,
                        &format!("section {h}"),
                        format!("办事指南缺少必备要素“## {h}”"),
                    ));
                }
            }
            if !has("申请材料") && !has("办理情形") {
                problems.push(problem(
                    missing_line,
                    "section 申请材料",
                    "办事指南缺少“## 申请材料”或“## 办理情形”".into(),
                ));
            }
            if let Some(s) = sections.iter().find(|s| s.heading == "办理情形")
                && s.situations.is_empty()
            {
                problems.push(problem(
                    s.line,
                    "section 办理情形",
                    "“办理情形”下应有至少一个“### 情形：名称”".into(),
                ));
            }
        }
        DocKind::LifeEvent => {
            for h in LIFE_EVENT_SECTIONS {
                if !has(h) {
                    problems.push(problem(
                        missing_line,
                        &format!("section {h}"),
                        format!("一件事缺少必备要素“## {h}”"),
                    ));
                }
            }
        }
        DocKind::Faq => {
            if !sections.iter().any(|s| s.aspect() == Aspect::Faq) {
                problems.push(problem(
                    missing_line,
                    "section 问",
                    "常见问题文档至少要有一个“## 问：……”".into(),
                ));
            }
        }
        DocKind::Policy => {
            if sections.is_empty() {
                problems.push(problem(
                    missing_line,
                    "sections",
                    "政策文件至少要有一个“## ”小节".into(),
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(Document {
            meta,
            summary,
            sections,
            body,
        })
    } else {
        Err(problems)
    }
}

/// The name of the field a TOML/serde message is about, if it names one.
fn regex_field(msg: &str) -> Option<String> {
    let start = msg.find('`')? + 1;
    let end = start + msg[start..].find('`')?;
    let f = &msg[start..end];
    f.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_')
        .then(|| f.to_string())
}

/// Splits the body into the summary (text before the first `## `) and sections.
/// `first_line` is the 1-based file line of `lines[0]`.
fn split_sections(lines: &[&str], first_line: usize) -> (String, Vec<Section>) {
    let mut summary = Vec::new();
    let mut sections: Vec<Section> = Vec::new();
    let mut body: Vec<&str> = Vec::new();
    let mut in_code = false;
    for (i, raw) in lines.iter().enumerate() {
        if raw.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        let heading = (!in_code)
            .then(|| raw.strip_prefix("## "))
            .flatten()
            .map(str::trim);
        match heading {
            Some(h) => {
                if let Some(last) = sections.last_mut() {
                    finish_section(last, &body);
                }
                body.clear();
                sections.push(Section {
                    heading: h.to_string(),
                    line: first_line + i,
                    body: String::new(),
                    situations: Vec::new(),
                    phrasings: Vec::new(),
                });
            }
            None if sections.is_empty() => summary.push(*raw),
            None => body.push(*raw),
        }
    }
    if let Some(last) = sections.last_mut() {
        finish_section(last, &body);
    }
    (summary.join("\n").trim().to_string(), sections)
}

fn finish_section(section: &mut Section, body: &[&str]) {
    let mut kept: Vec<&str> = Vec::with_capacity(body.len());
    if section.heading == "办理情形" {
        for line in body {
            if let Some(name) = line.strip_prefix("### ") {
                let name = name.trim();
                let name = name.strip_prefix("情形：").unwrap_or(name).trim();
                section.situations.push(Situation {
                    name: name.to_string(),
                    cues: Vec::new(),
                    materials: Vec::new(),
                });
            } else if let Some(sit) = section.situations.last_mut() {
                let t = line.trim();
                if let Some(cues) = t.strip_prefix("适用：") {
                    sit.cues = split_list(cues, &['、', '，', ',', '；']);
                } else if let Some(item) = t.strip_prefix("- ").or_else(|| t.strip_prefix("* ")) {
                    sit.materials.push(item.trim().to_string());
                }
            }
            kept.push(line);
        }
    } else if section.heading.starts_with("问：") {
        for line in body {
            match line.trim().strip_prefix("其他问法：") {
                Some(p) => section.phrasings = split_list(p, &['｜', '|']),
                None => kept.push(line),
            }
        }
    } else {
        kept.extend_from_slice(body);
    }
    section.body = kept.join("\n").trim().to_string();
}

fn split_list(s: &str, seps: &[char]) -> Vec<String> {
    s.split(seps)
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "+++\nid = \"demo\"\ntitle = \"示例事项\"\nkind = \"guide\"\nissuing_body = \"示例市某局\"\nregion = \"示例市\"\neffective_from = 2024-01-01\nitem_type = \"行政确认\"\ntags = []\naliases = [\"示例\"]\n+++\n\n概述文字。\n\n## 实施机关\n某局\n\n## 设定依据\n某法\n\n## 受理条件\n条件\n\n## 办理情形\n\n### 情形：新办\n适用：第一次、首次\n- 户口簿（原件，1份）\n\n### 情形：补办\n适用：丢了\n- 身份证（原件）\n\n## 办理流程\n1. 申请\n\n## 办理时限\n5个工作日\n\n## 收费标准\n不收费\n\n## 办理地点\n大厅\n\n## 办理时间\n工作日\n\n## 咨询电话\n12345\n\n## 办理结果\n证\n\n## 到现场次数\n1次\n";

    fn p(text: &str) -> Result<Document, Vec<DocProblem>> {
        parse_document(Path::new("kb/demo.md"), text)
    }

    #[test]
    fn parses_a_complete_guide_with_situations() {
        let d = p(GOOD).expect("valid");
        assert_eq!(d.meta.id.as_str(), "demo");
        assert_eq!(d.summary, "概述文字。");
        let sits = d.situations();
        assert_eq!(sits.len(), 2);
        assert_eq!(sits[0].name, "新办");
        assert_eq!(sits[0].cues, vec!["第一次", "首次"]);
        assert_eq!(sits[1].materials, vec!["身份证（原件）"]);
        assert_eq!(d.section(Aspect::Fees).unwrap().body, "不收费");
        // the heading line numbers are file lines
        let line = GOOD.lines().position(|l| l == "## 实施机关").unwrap() + 1;
        assert_eq!(d.section(Aspect::Authority).unwrap().line, line);
    }

    #[test]
    fn a_missing_guide_element_names_the_section() {
        let text = GOOD.replace("## 收费标准\n不收费\n\n", "");
        let errs = p(&text).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "section 收费标准");
        assert_eq!(errs[0].file, Path::new("kb/demo.md"));
    }

    #[test]
    fn bad_front_matter_points_at_the_line_and_field() {
        let text = GOOD.replace(
            "effective_from = 2024-01-01",
            "effective_from = \"yesterday\"",
        );
        let errs = p(&text).unwrap_err();
        assert_eq!(errs[0].line, 7, "{errs:?}");
        assert_eq!(errs[0].field, "effective_from");
        let text = GOOD.replace("title = \"示例事项\"\n", "");
        let errs = p(&text).unwrap_err();
        assert_eq!(errs[0].field, "title", "{errs:?}");
        let errs = p("no front matter").unwrap_err();
        assert_eq!((errs[0].line, errs[0].field.as_str()), (1, "front matter"));
        let text = GOOD.replace("tags = []", "tags = []\ncolour = \"red\"");
        assert_eq!(p(&text).unwrap_err()[0].field, "colour");
    }

    #[test]
    fn id_must_match_the_file_and_guides_need_an_item_type() {
        let text = GOOD.replace("id = \"demo\"", "id = \"other\"");
        assert_eq!(p(&text).unwrap_err()[0].field, "id");
        let text = GOOD.replace("item_type = \"行政确认\"\n", "");
        let errs = p(&text).unwrap_err();
        assert_eq!(errs[0].field, "item_type");
    }

    #[test]
    fn faq_entries_keep_their_other_phrasings() {
        let text = "+++\nid = \"demo\"\ntitle = \"问答\"\nkind = \"faq\"\nissuing_body = \"某局\"\nregion = \"示例市\"\neffective_from = 2024-01-01\ntags = []\n+++\n\n## 问：身份证丢了怎么办？\n其他问法：身份证掉了｜身份证不见了\n先挂失。\n";
        let d = p(text).unwrap();
        assert_eq!(d.sections[0].phrasings, vec!["身份证掉了", "身份证不见了"]);
        assert_eq!(d.sections[0].body, "先挂失。");
        assert_eq!(d.sections[0].aspect(), Aspect::Faq);
    }
}
