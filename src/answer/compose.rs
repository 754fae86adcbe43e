//! Extractive composition: the reply text built word for word from knowledge-base sections.
//! Nothing a citizen typed is ever copied into it.

use crate::kb::{Aspect, DocKind, Document, Situation};

/// The sections a general "how do I do this" question gets, per kind of document.
fn overview_aspects(kind: DocKind) -> &'static [Aspect] {
    match kind {
        DocKind::Guide => &[
            Aspect::Materials,
            Aspect::Process,
            Aspect::Fees,
            Aspect::TimeLimit,
        ],
        DocKind::LifeEvent => &[Aspect::Items, Aspect::Materials, Aspect::Process],
        DocKind::Policy | DocKind::Faq => &[],
    }
}

fn materials_text(situation: &Situation) -> String {
    situation
        .materials
        .iter()
        .map(|m| format!("- {m}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A life event's item line `- 出生登记（birth-registration）` → its title and document id.
pub fn item_id(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim().strip_prefix("- ")?;
    let (title, id) = rest.strip_suffix('）')?.rsplit_once('（')?;
    let is_id = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    is_id.then_some((title.trim(), id))
}

/// The text of one aspect of a document, if the document has it.
fn aspect_text(doc: &Document, aspect: Aspect, situation: Option<&Situation>) -> Option<String> {
    if aspect == Aspect::Materials
        && let Some(s) = situation
    {
        return Some(materials_text(s));
    }
    let section = doc.section(aspect)?;
    if aspect == Aspect::Items {
        // Items name their guide by id for the links (`出生登记（birth-registration）`); the
        // citizen reads the title, the links come with the reply's citations.
        Some(
            section
                .body
                .lines()
                .map(|l| match item_id(l) {
                    Some((title, _)) => format!("- {title}"),
                    None => l.to_string(),
                })
                .collect::<Vec<_>>()
                .join("\n"),
        )
    } else if section.situations.is_empty() {
        Some(section.body.clone())
    } else {
        // All situations, each under its name (used when only one exists).
        Some(
            section
                .situations
                .iter()
                .map(|s| format!("{}：\n{}", s.name, materials_text(s)))
                .collect::<Vec<_>>()
                .join("\n"),
        )
    }
}

/// An answer about `doc`: the aspect asked, or an overview; `fallback` is the best passage
/// text for documents without guide elements.
pub fn about(
    doc: &Document,
    aspect: Option<Aspect>,
    situation: Option<&Situation>,
    fallback: &str,
) -> String {
    let mut head = format!("关于“{}”", doc.meta.title);
    if let Some(s) = situation {
        head.push_str(&format!("（{}）", s.name));
    }
    head.push('：');
    let mut parts = vec![head];
    let wanted: Vec<Aspect> = match aspect {
        Some(a) if doc.section(a).is_some() => vec![a],
        Some(_) => Vec::new(),
        None => overview_aspects(doc.meta.kind).to_vec(),
    };
    let mut any = false;
    for a in wanted {
        if let Some(text) = aspect_text(doc, a, situation) {
            parts.push(format!("{}：\n{}", a.label(), text));
            any = true;
        }
    }
    if !any {
        parts.push(fallback.trim().to_string());
    }
    parts.push(format!(
        "（以上内容摘自{}发布的《{}》，请以办理部门最新公布为准。）",
        doc.meta.issuing_body, doc.meta.title
    ));
    // Orders to a model hidden in a document are not shown to citizens either.
    super::grounded::neutralise(&parts.join("\n"))
}

/// The one passage that answers a yes/no question, with its source.
pub fn passage(doc: &Document, text: &str) -> String {
    super::grounded::neutralise(&format!(
        "关于“{}”：\n{}\n（以上内容摘自{}发布的《{}》，请以办理部门最新公布为准。）",
        doc.meta.title,
        text.trim(),
        doc.meta.issuing_body,
        doc.meta.title
    ))
}

pub fn clarify_vague(examples: &[String]) -> String {
    let list: Vec<String> = examples
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{}. {t}", i + 1))
        .collect();
    format!(
        "请问您想办理哪一项业务？请说出证件或事项的名称，比如“居民身份证换领”“开饭馆要办什么证”。常见的“一件事”联办有：\n{}",
        list.join("\n")
    )
}

/// The name of a material line: what is handed in, without its notes in brackets.
fn material_name(line: &str) -> &str {
    line.split(['（', '(']).next().unwrap_or(line).trim()
}

/// Whether a material line stands for the materials of the other situations ("以上对应情形的
/// 全部材料", "上述材料"): such a situation (an agent applying, say) adds to another one.
fn refers_to_others(line: &str) -> bool {
    (line.contains("以上") || line.contains("上述")) && line.contains("材料")
}

/// The materials every situation of a guide asks for (by name), as the first situation
/// writes them. A situation that takes over the others' materials ("委托他人代办: 以上对应情形
/// 的全部材料 + 授权委托书") shares all of them.
pub fn shared_materials(doc: &Document) -> Vec<&str> {
    let situations: Vec<_> = doc
        .situations()
        .iter()
        .filter(|s| !s.materials.iter().any(|m| refers_to_others(m)))
        .collect();
    let Some((first, rest)) = situations.split_first() else {
        return Vec::new();
    };
    first
        .materials
        .iter()
        .filter(|m| {
            let name = material_name(m);
            rest.iter()
                .all(|s| s.materials.iter().any(|o| material_name(o) == name))
        })
        .map(String::as_str)
        .collect()
}

/// The part of a guide that holds whatever the situation: the materials every situation
/// needs, then (for a general question) the steps, fees and time limit, and the situations
/// to choose from for the rest of the materials.
pub fn common(doc: &Document, aspect: Option<Aspect>, shared: &[&str]) -> String {
    let mut parts = vec![format!("关于“{}”：", doc.meta.title)];
    if !shared.is_empty() {
        parts.push(format!(
            "各种情形都需要的材料：\n{}",
            shared
                .iter()
                .map(|m| format!("- {}", material_name(m)))
                .collect::<Vec<_>>()
                .join("\n")
        ));
    }
    let list: Vec<String> = doc
        .situations()
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{}. {}", i + 1, s.name))
        .collect();
    parts.push(format!(
        "其余材料因情形而不同，告诉我您属于哪一种，我再列出完整清单：\n{}",
        list.join("\n")
    ));
    if aspect.is_none() {
        for a in overview_aspects(doc.meta.kind) {
            if *a != Aspect::Materials
                && let Some(text) = aspect_text(doc, *a, None)
            {
                parts.push(format!("{}：\n{}", a.label(), text));
            }
        }
    }
    parts.push(format!(
        "（以上内容摘自{}发布的《{}》，请以办理部门最新公布为准。）",
        doc.meta.issuing_body, doc.meta.title
    ));
    super::grounded::neutralise(&parts.join("\n"))
}

pub fn clarify_situation(doc: &Document) -> String {
    let list: Vec<String> = doc
        .situations()
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{}. {}", i + 1, s.name))
        .collect();
    format!(
        "“{}”分几种情况，所需材料不同。请问您属于哪一种？\n{}",
        doc.meta.title,
        list.join("\n")
    )
}

pub fn clarify_documents(titles: &[&str]) -> String {
    let list: Vec<String> = titles
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{}. {t}", i + 1))
        .collect();
    format!(
        "您的问题可能涉及以下几项，请问您想办理的是哪一项？\n{}",
        list.join("\n")
    )
}

pub fn out_of_scope(reason: &str) -> String {
    let why = match reason {
        "medical" => "涉及医疗健康的问题，请咨询医生或医疗机构。",
        "legal_judgement" => "涉及个案法律判断的问题，请咨询律师或拨打12348公共法律服务热线。",
        "finance" => "我不能提供投资理财方面的建议。",
        "political" => "这类话题不在政务服务咨询范围内。",
        "fortune" => "我不提供算命、运势之类的内容，也请不要在对话中发送身份证号码。",
        "injection" => {
            "我只能按照政务服务的规则回答办事问题，不能更改规则，也不能提供他人的个人信息或协助制作证件。"
        }
        "not_offered" => {
            "示例市知识库中暂时没有这项业务的办事指南，我不能凭猜测回答。出入境证件、驾驶人考试、公积金贷款、婚姻登记补证等事项请咨询主管部门。"
        }
        "chitchat" => {
            "我是示例市政务服务助手“小办”，可以回答办事指南和政策方面的问题，比如“居民身份证换领”。"
        }
        _ => "知识库中没有找到与您的问题相关的办事指南或政策。您可以换个说法再问。",
    };
    format!(
        "抱歉，{why}\n如需进一步帮助，请拨打12345政务服务便民热线（7×24小时），或点击“转人工”。"
    )
}

/// Why a clarify loop that went nowhere goes to a person; the server follows it with what
/// happens next (a place in the queue or the callback offer).
pub const UNCLEAR: &str = "抱歉，追问之后我还是没能弄清您要办的事，所以请人工客服来帮您。";

/// How a person is reached, said without a transfer under way (the command line, and before
/// the server has made the handoff).
const REACH_A_PERSON: &str = "人工服务时间内，工作人员会在这个对话里接待您；其他时间可以留下电话等工作人员回电，急事请拨打12345政务服务便民热线（7×24小时）。";

pub fn handoff(reason: &str) -> String {
    match reason {
        "unclear" => format!("{UNCLEAR}{REACH_A_PERSON}"),
        "case_status" => "查询个人办件进度需要核实您的身份，我无法在这里查询。请登录示例市政务服务网“我的办件”查看，或拨打12345政务服务便民热线，也可以点击“转人工”由工作人员为您查询。请不要在对话中发送完整身份证号码或密码。".to_string(),
        _ => format!("好的，需要人工帮忙的话：{REACH_A_PERSON}"),
    }
}
