use super::*;

fn paras(ps: &[&str]) -> Extracted {
    Extracted {
        blocks: ps.iter().map(|p| Block::Paragraph(p.to_string())).collect(),
        ..Default::default()
    }
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

#[test]
fn dates_and_numbers_in_their_printed_forms() {
    assert_eq!(parse_date("2024年1月15日"), Some(d(2024, 1, 15)));
    assert_eq!(parse_date("２０２４年３月１日起"), Some(d(2024, 3, 1)));
    assert_eq!(parse_date("二〇二四年一月十五日"), Some(d(2024, 1, 15)));
    assert_eq!(
        parse_date("二〇二三年十二月三十一日"),
        Some(d(2023, 12, 31))
    );
    assert_eq!(parse_date("2024-02-29"), Some(d(2024, 2, 29)));
    assert_eq!(parse_date("2023年2月30日"), None);
    assert_eq!(
        parse_doc_no("示例府办发〔2024〕12号").as_deref(),
        Some("示例府办发〔2024〕12号")
    );
    assert_eq!(
        parse_doc_no("示例府办发[2024]012号").as_deref(),
        Some("示例府办发〔2024〕12号")
    );
    assert_eq!(
        parse_doc_no("示例人社规（2023）第5号").as_deref(),
        Some("示例人社规〔2023〕5号")
    );
}

/// A 公文 as printed: red header, 文号, title, addressee, numbered headings at three levels,
/// a table, the in-force and repeal clauses, signature and 成文日期.
fn notice() -> Extracted {
    let mut ex = paras(&[
        "示例市人民政府办公室文件",
        "示例府办发〔2024〕12号",
        "示例市人民政府办公室关于印发",
        "示例市高龄津贴发放办法的通知",
        "各区人民政府，市政府各委、办、局：",
        "《示例市高龄津贴发放办法》已经市政府同意，现印发给你们，请认真贯彻执行。",
        "一、总体要求",
        "（一）发放对象。本市户籍、年满80周岁的老年人。",
        "（二）发放标准",
        "按年龄分档发放，标准见下表。",
    ]);
    ex.blocks.push(Block::Table(vec![
        vec!["年龄".into(), "每月标准".into()],
        vec!["80至89周岁".into(), "100元".into()],
        vec!["90周岁以上".into(), "300 | 500元".into()],
    ]));
    ex.blocks.extend(
        paras(&[
            "二、办理程序",
            "1.申请。本人或代理人向户籍所在地街道提出申请。",
            "2.审核。街道在5个工作日内完成审核。",
            "三、附则",
            "本办法自2024年3月1日起施行，有效期至2028年12月31日。《示例市高龄津贴暂行办法》（示例府办发〔2019〕8号）同时废止。",
            "示例市人民政府办公室",
            "2024年1月15日",
            "（此件公开发布）",
        ])
        .blocks,
    );
    ex
}

#[test]
fn a_printed_notice_gives_its_fields_and_sections() {
    let o = recognise(&notice()).unwrap();
    assert_eq!(
        o.title,
        "示例市人民政府办公室关于印发示例市高龄津贴发放办法的通知"
    );
    assert_eq!(o.doc_no.as_deref(), Some("示例府办发〔2024〕12号"));
    assert_eq!(o.issuing_body.as_deref(), Some("示例市人民政府办公室"));
    assert_eq!(o.issued_on, Some(d(2024, 1, 15)));
    assert_eq!(o.effective_from, Some(d(2024, 3, 1)));
    assert_eq!(o.effective_to, Some(d(2028, 12, 31)));
    assert_eq!(
        o.repeals,
        vec![Repeal {
            title: Some("示例市高龄津贴暂行办法".into()),
            doc_no: Some("示例府办发〔2019〕8号".into())
        }]
    );
    assert!(o.preamble.starts_with("各区人民政府"));
    let headings: Vec<&str> = o.sections.iter().map(|s| s.heading.as_str()).collect();
    assert_eq!(
        headings,
        vec![
            "一、总体要求 （一）发放对象",
            "（二）发放标准",
            "二、办理程序 1.申请",
            "2.审核",
            "三、附则"
        ]
    );
    assert_eq!(o.sections[0].body, "本市户籍、年满80周岁的老年人。");
    assert_eq!(
        o.sections[1].body,
        "按年龄分档发放，标准见下表。\n\n| 年龄 | 每月标准 |\n|---|---|\n| 80至89周岁 | 100元 |\n| 90周岁以上 | 300 \\| 500元 |"
    );
    assert!(
        o.sections[4].body.ends_with("（此件公开发布）"),
        "{:?}",
        o.sections[4]
    );
    assert!(!o.sections[4].body.contains("2024年1月15日"));
    assert_eq!(
        o.fields_found(),
        vec![
            "标题",
            "文号",
            "发文机关",
            "成文日期",
            "施行日期",
            "有效期至",
            "废止条款"
        ]
    );
}

#[test]
fn articles_chapters_and_labelled_metadata() {
    let mut ex = paras(&[
        "索引号：11350000-2024-00012 发文机关：示例市人力资源和社会保障局",
        "成文日期：2023年6月1日 发文字号：示例人社规〔2023〕5号",
        "示例市灵活就业人员社会保险补贴办法",
        "第一章 总则",
        "第一条 为了促进灵活就业，制定本办法。",
        "第二条 本办法自印发之日起施行，有效期5年。",
    ]);
    ex.meta_title = Some("示例市灵活就业人员社会保险补贴办法 - 示例市人民政府".into());
    let o = recognise(&ex).unwrap();
    assert_eq!(o.title, "示例市灵活就业人员社会保险补贴办法");
    assert_eq!(o.doc_no.as_deref(), Some("示例人社规〔2023〕5号"));
    assert_eq!(
        o.issuing_body.as_deref(),
        Some("示例市人力资源和社会保障局")
    );
    assert_eq!(o.issued_on, Some(d(2023, 6, 1)));
    assert_eq!(o.effective_from, Some(d(2023, 6, 1)));
    assert_eq!(o.effective_to, Some(d(2028, 5, 31)));
    let headings: Vec<&str> = o.sections.iter().map(|s| s.heading.as_str()).collect();
    assert_eq!(headings, vec!["第一章 总则 第一条", "第二条"]);
    assert_eq!(o.sections[0].body, "为了促进灵活就业，制定本办法。");
}

#[test]
fn a_text_without_headings_is_one_section_and_lists_stay_lists() {
    let o = recognise(&paras(&[
        "示例市关于延长复工补贴申报期限的通告",
        "申报期限延长至6月30日。需提交：",
        "1.营业执照",
        "2.复工承诺书",
        "联系电话：12345。",
    ]))
    .unwrap();
    assert!(o.sections.is_empty());
    assert_eq!(
        o.preamble,
        "申报期限延长至6月30日。需提交：\n\n1.营业执照\n\n2.复工承诺书\n\n联系电话：12345。"
    );
    assert_eq!(o.issuing_body, None);
    assert_eq!(o.effective_from, None);
    assert!(recognise(&paras(&["只有标题的文件"])).is_none());
}

#[test]
fn metadata_boxes_are_read_not_kept_as_tables() {
    let mut ex = paras(&["示例市关于做好2024年春运工作的通知"]);
    ex.blocks.insert(
        0,
        Block::Table(vec![
            vec![
                "索引号".into(),
                "000-2024".into(),
                "发文机关".into(),
                "示例市交通运输局".into(),
            ],
            vec![
                "发文字号".into(),
                "示例交发〔2024〕3号".into(),
                "成文日期".into(),
                "2024-01-10".into(),
            ],
        ]),
    );
    ex.blocks
        .push(Block::Paragraph("各有关单位：请做好春运保障。".into()));
    let o = recognise(&ex).unwrap();
    assert_eq!(o.doc_no.as_deref(), Some("示例交发〔2024〕3号"));
    assert_eq!(o.issuing_body.as_deref(), Some("示例市交通运输局"));
    assert_eq!(o.issued_on, Some(d(2024, 1, 10)));
    assert_eq!(o.preamble, "各有关单位：请做好春运保障。");
}

#[test]
fn repeal_clauses_name_titles_and_numbers() {
    let r = repeals_in(
        "本办法自2024年1月1日起施行。原《甲办法》（示例府发〔2018〕1号）和《乙规定》同时废止；示例府办发〔2017〕9号文件予以废止。不得废止《丙》。",
        "新办法",
        None,
    );
    assert_eq!(
        r,
        vec![
            Repeal {
                title: Some("甲办法".into()),
                doc_no: Some("示例府发〔2018〕1号".into())
            },
            Repeal {
                title: Some("乙规定".into()),
                doc_no: None
            },
            Repeal {
                title: None,
                doc_no: Some("示例府办发〔2017〕9号".into())
            },
        ]
    );
}

#[test]
fn markdown_that_would_open_a_section_is_escaped() {
    let o = recognise(&paras(&["某标题的通知", "## 不是小节", "正文。"])).unwrap();
    assert_eq!(o.preamble, "\\## 不是小节\n\n正文。");
}

#[test]
fn a_number_printed_alone_joins_its_paragraph() {
    let o = recognise(&paras(&[
        "关于车辆通行证办理的公示",
        "一、发放流程",
        "1、",
        "需求单位提出运输需求，主管部门核准后反馈。",
        "2、",
        "承运单位自行打印通行证。",
    ]))
    .unwrap();
    // Short numbered lines one after another are a list in their section.
    assert_eq!(o.sections.len(), 1);
    assert_eq!(o.sections[0].heading, "一、发放流程");
    assert_eq!(
        o.sections[0].body,
        "1、需求单位提出运输需求，主管部门核准后反馈。\n\n2、承运单位自行打印通行证。"
    );
}

#[test]
fn a_metadata_title_that_is_no_title_is_ignored() {
    let mut ex = paras(&["示例市关于做好防汛工作的通知", "各区：请做好防汛准备。"]);
    ex.meta_title = Some("Document1".into());
    assert_eq!(
        recognise(&ex).unwrap().title,
        "示例市关于做好防汛工作的通知"
    );
    ex.meta_title = Some("Microsoft Word - 防汛.docx".into());
    assert_eq!(
        recognise(&ex).unwrap().title,
        "示例市关于做好防汛工作的通知"
    );
}
