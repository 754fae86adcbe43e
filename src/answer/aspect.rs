//! Which aspect of an item a question asks about (materials, fees, time limit, …), from the
//! words citizens use. `None` means a general "how do I do this" question.

use crate::kb::Aspect;
use crate::text::normalise;

/// Cue phrases per aspect, most specific first. Matching is on normalised text.
const CUES: &[(Aspect, &[&str])] = &[
    (
        Aspect::Fees,
        &[
            "多少钱",
            "费用",
            "收费",
            "要钱",
            "收钱",
            "花钱",
            "免费",
            "工本费",
            "几块钱",
            "钱",
            "价格",
            "how much",
            "fee",
            "cost",
        ],
    ),
    (
        Aspect::TimeLimit,
        &[
            "多久",
            "多长时间",
            "几天",
            "时限",
            "多快",
            "工作日",
            "什么时候能拿",
            "什么时候拿",
            "多少天",
            "几个月能",
            "啥时候能",
            "什么时候",
            "啥时候",
            "几号",
            "截止",
            "how long",
        ],
    ),
    (
        Aspect::Hours,
        &[
            "几点",
            "上班时间",
            "办公时间",
            "周末",
            "星期六",
            "周六",
            "星期天",
            "周日",
            "工作时间",
            "中午",
            "晚上",
            "opening hours",
        ],
    ),
    (
        Aspect::Phone,
        &["电话", "热线", "联系方式", "号码是多少", "phone"],
    ),
    (
        Aspect::Place,
        &[
            "在哪",
            "哪里",
            "哪儿",
            "地点",
            "地址",
            "去哪",
            "网上",
            "线上",
            "手机上",
            "小程序",
            "where",
        ],
    ),
    (
        Aspect::Materials,
        &[
            "材料",
            "带什么",
            "准备什么",
            "要带",
            "带啥",
            "需要带",
            "资料",
            "需要什么",
            "要什么",
            "要啥",
            "带哪些",
            "拿啥",
            "拿什么",
            "准备啥",
            "documents",
        ],
    ),
    (
        Aspect::Conditions,
        &[
            "条件",
            "能不能办",
            "能办吗",
            "可以办吗",
            "资格",
            "符合",
            "谁可以",
            "要求",
            "能不能领",
            "能领吗",
            "可以领吗",
            "有没有资格",
            "够不够",
            "要不要办",
            "几岁",
            "需不需要办",
            "才能领",
            "能报吗",
            "能不能报",
            "eligible",
        ],
    ),
    (Aspect::Process, &["流程", "步骤", "程序", "顺序"]),
    (
        Aspect::Visits,
        &["跑几次", "去几次", "跑几趟", "要去现场", "跑腿"],
    ),
    (Aspect::Basis, &["依据", "法律规定", "哪条规定", "政策依据"]),
    (Aspect::Result, &["拿到什么", "办理结果", "领到什么"]),
    (
        Aspect::Items,
        &["哪些手续", "什么手续", "哪些事", "哪些事项", "办哪些"],
    ),
];

/// The aspect asked about, if the question names one.
pub fn detect(question: &str) -> Option<Aspect> {
    let q = normalise(question);
    CUES.iter()
        .find(|(_, cues)| cues.iter().any(|c| q.contains(c)))
        .map(|(a, _)| *a)
        .or_else(|| {
            // "小卖部要办许可吗": whether the item applies at all.
            let ask = q.trim_end_matches(|c: char| !c.is_alphanumeric());
            (ask.ends_with('吗') && (q.contains("要办") || q.contains("需要办")))
                .then_some(Aspect::Conditions)
        })
}

/// A yes/no question ("领结婚证时户口簿还需要吗"): answered by the passage that speaks to it,
/// not by an overview.
pub fn is_yes_no(question: &str) -> bool {
    let q = normalise(question);
    let ask = q.trim_end_matches(|c: char| !c.is_alphanumeric());
    ["吗", "不", "没", "么"].iter().any(|e| ask.ends_with(e))
        || [
            "要不要",
            "需不需要",
            "用不用",
            "是不是",
            "能不能",
            "可不可以",
            "行不行",
        ]
        .iter()
        .any(|c| q.contains(c))
}

/// The cue words themselves, so that follow-up detection can ignore them as topic words.
pub fn is_cue_word(word: &str) -> bool {
    CUES.iter()
        .any(|(_, cues)| cues.iter().any(|c| c.contains(word)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colloquial_cues_map_to_aspects() {
        assert_eq!(detect("这个收多少钱？"), Some(Aspect::Fees));
        assert_eq!(detect("上哪里办理呢？"), Some(Aspect::Place));
        assert_eq!(detect("得带啥证件"), Some(Aspect::Materials));
        assert_eq!(detect("大概几天可以取"), Some(Aspect::TimeLimit));
        assert_eq!(detect("家里添了新生儿得跑哪些手续"), Some(Aspect::Items));
        assert_eq!(detect("How much is the fee"), Some(Aspect::Fees));
        assert_eq!(detect("开个网店要准备啥"), Some(Aspect::Materials));
        assert_eq!(detect("身份证到期换新的怎么弄"), None);
        assert_eq!(
            detect("个人所得税年度汇算每年几号起"),
            Some(Aspect::TimeLimit)
        );
        assert_eq!(
            detect("卖预包装食品的小卖部要办经营许可吗"),
            Some(Aspect::Conditions)
        );
    }

    #[test]
    fn yes_no_questions_are_recognised() {
        assert!(is_yes_no("领结婚证时户口簿还需要吗？"));
        assert!(is_yes_no("证件过了有效期还能用不"));
        assert!(is_yes_no("迁户口要不要先去老家开证明"));
        assert!(!is_yes_no("身份证到期换新的怎么弄"));
    }
}
