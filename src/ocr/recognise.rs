//! Crops, direction classification and recognition: everything between a text box and its
//! string, except running the models.
//!
//! A box is cut out square-on at the recogniser's height (48 px), turned a quarter when it is
//! much taller than wide (PaddleOCR's `get_rotate_crop_image`). The classifier sees the crop
//! padded to 192 px; the recogniser sees crops sorted by width and batched, each batch padded
//! to its widest crop only. Its output is decoded greedily (CTC: best class per time step,
//! repeats merged, blanks dropped).

use std::collections::HashMap;

use image::RgbImage;

use crate::photo::geometry;

use super::Quad;

/// Height of recognition and classification inputs.
pub const REC_HEIGHT: u32 = 48;
/// Width of the classifier's input.
pub const CLS_WIDTH: u32 = 192;
/// Crops wider than this many heights are squeezed to it.
pub const MAX_RATIO: f32 = 40.0;

/// A text box cut out at the recogniser's height.
#[derive(Clone)]
pub struct Crop {
    pub image: RgbImage,
}

/// Cuts `quad` out of `img` at [`REC_HEIGHT`] pixels high, turning a tall box (height ≥ 1.5 ×
/// width) a quarter turn counter-clockwise so its text runs left to right.
pub fn crop(img: &RgbImage, quad: &Quad) -> Crop {
    let d = |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    let w = d(quad[0], quad[1]).max(d(quad[3], quad[2])).max(1.0);
    let h = d(quad[0], quad[3]).max(d(quad[1], quad[2])).max(1.0);
    let (q, w, h) = if h / w >= 1.5 {
        ([quad[1], quad[2], quad[3], quad[0]], h, w)
    } else {
        (*quad, w, h)
    };
    let out_w = ((REC_HEIGHT as f32 * w / h).ceil()).clamp(1.0, REC_HEIGHT as f32 * MAX_RATIO);
    Crop {
        image: geometry::warp_quad(img, &q, out_w as u32, REC_HEIGHT),
    }
}

/// Writes `img` (height [`REC_HEIGHT`]) into a CHW BGR batch slot `width` wide, normalised to
/// `[-1, 1]`; the rest of the slot stays 0 (mid-grey after normalisation).
pub fn fill_slot(img: &RgbImage, slot: &mut [f32], width: u32) {
    let plane = (REC_HEIGHT * width) as usize;
    let (w, h) = img.dimensions();
    let w = w.min(width);
    for y in 0..h.min(REC_HEIGHT) {
        for x in 0..w {
            let p = img.get_pixel(x, y);
            let i = (y * width + x) as usize;
            slot[i] = p[2] as f32 / 127.5 - 1.0;
            slot[plane + i] = p[1] as f32 / 127.5 - 1.0;
            slot[2 * plane + i] = p[0] as f32 / 127.5 - 1.0;
        }
    }
}

/// The classifier's input for one crop: squeezed to [`CLS_WIDTH`] when wider, else padded.
pub fn cls_input(c: &Crop) -> RgbImage {
    if c.image.width() > CLS_WIDTH {
        image::imageops::resize(
            &c.image,
            CLS_WIDTH,
            REC_HEIGHT,
            image::imageops::FilterType::Triangle,
        )
    } else {
        c.image.clone()
    }
}

/// Groups crop indices into batches of at most `batch` crops of similar width (narrowest
/// first): a batch also ends before a crop more than 1.5 × as wide as its first one, so each
/// batch is padded only a little. On an identity card this halves the columns the recogniser
/// computes compared with one batch padded to the address line.
pub fn batches(widths: &[u32], batch: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..widths.len()).collect();
    order.sort_by_key(|&i| widths[i]);
    let mut out: Vec<Vec<usize>> = Vec::new();
    for i in order {
        match out.last_mut() {
            Some(b) if b.len() < batch.max(1) && widths[i] * 2 <= widths[b[0]] * 3 => b.push(i),
            _ => out.push(vec![i]),
        }
    }
    out
}

/// The character set of a recogniser: index 0 is the CTC blank, then the dictionary from the
/// model's `character` metadata, then a space.
#[derive(Debug, Clone)]
pub struct Charset {
    classes: Vec<String>,
    /// (variant, standard) class pairs: a multilingual recogniser's dictionary holds a
    /// fullwidth digit or letter beside the ASCII one and a traditional character beside its
    /// simplified one, and splits its belief between the two (汉 0.52, 漢 0.48 on a clean card).
    /// A mainland document prints only the standard forms, so decoding adds each variant's
    /// probability to its standard class ([`Charset::folded`]).
    folds: Vec<(usize, usize)>,
}

impl Charset {
    /// From the newline-separated dictionary stored in the model.
    pub fn from_dictionary(dict: &str) -> Charset {
        let mut classes = vec![String::new()];
        classes.extend(
            dict.split('\n')
                .map(|s| s.trim_end_matches('\r'))
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
        classes.push(" ".into());
        let folds = variant_folds(&classes);
        Charset { classes, folds }
    }

    /// `probs` (`steps × classes`) with every variant's probability moved to its standard
    /// class.
    fn folded(&self, probs: &[f32], classes: usize) -> Vec<f32> {
        let mut out = probs.to_vec();
        for step in out.chunks_exact_mut(classes) {
            for &(variant, standard) in &self.folds {
                if let (Some(&v), true) = (step.get(variant), standard < step.len()) {
                    step[standard] += v;
                    step[variant] = 0.0;
                }
            }
        }
        out
    }

    /// Number of classes, blank and space included.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.classes.len() <= 2
    }

    /// The most probable single-character classes over a run of steps (each by its highest
    /// probability in the run), other than the blank and `chosen`.
    fn alternatives(&self, run: &[f32], classes: usize, chosen: usize) -> Alternatives {
        let mut best = run[..classes].to_vec();
        for step in run.chunks_exact(classes).skip(1) {
            for (b, &p) in best.iter_mut().zip(step) {
                *b = b.max(p);
            }
        }
        let mut top: Vec<(usize, f32)> = best
            .into_iter()
            .enumerate()
            .skip(1)
            .filter(|&(i, p)| i != chosen && p >= MIN_ALTERNATIVE)
            .collect();
        top.sort_by(|a, b| b.1.total_cmp(&a.1));
        top.into_iter()
            .filter_map(|(i, p)| {
                let mut cs = self.classes.get(i)?.chars();
                match (cs.next(), cs.next()) {
                    (Some(c), None) if !c.is_whitespace() => Some((c, p)),
                    _ => None,
                }
            })
            .take(MAX_ALTERNATIVES)
            .collect()
    }
}

/// Other characters the recogniser weighed for one character of a line, most probable first.
pub type Alternatives = Vec<(char, f32)>;

/// At most this many alternatives are kept per character…
pub const MAX_ALTERNATIVES: usize = 4;
/// …each with at least this probability.
pub const MIN_ALTERNATIVE: f32 = 0.01;

/// The standard form of a character a mainland document would print in its place: the ASCII
/// digit or letter for a fullwidth one; the simplified character for a traditional one that is
/// not itself in simplified use (OpenCC's table: 漢 → 汉, 號 → 号; 於 and 乾, which simplified
/// text also uses, stay).
fn standard_form(c: char, traditional: &HashMap<&str, Vec<&str>>) -> Option<char> {
    if matches!(c, '０'..='９' | 'Ａ'..='Ｚ' | 'ａ'..='ｚ') {
        return char::from_u32(u32::from(c) - 0xFEE0);
    }
    let mut buf = [0u8; 4];
    let key: &str = c.encode_utf8(&mut buf);
    let values = traditional.get(key)?;
    if values.contains(&key) {
        return None;
    }
    let mut simplified = values.first()?.chars();
    match (simplified.next(), simplified.next()) {
        (Some(s), None) => Some(s),
        _ => None,
    }
}

/// The (variant, standard) class pairs of a dictionary ([`standard_form`]), both in it.
fn variant_folds(classes: &[String]) -> Vec<(usize, usize)> {
    let single = |s: &str| {
        let mut cs = s.chars();
        match (cs.next(), cs.next()) {
            (Some(c), None) => Some(c),
            _ => None,
        }
    };
    let index: HashMap<char, usize> = classes
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((single(s)?, i)))
        .collect();
    let traditional: HashMap<&str, Vec<&str>> =
        hanconv::RawDictionary::TSCharacters.var_iter().collect();
    let mut folds: Vec<(usize, usize)> = index
        .iter()
        .filter_map(|(&c, &i)| Some((i, *index.get(&standard_form(c, &traditional)?)?)))
        .collect();
    let variants: std::collections::HashSet<usize> = folds.iter().map(|f| f.0).collect();
    folds.retain(|f| !variants.contains(&f.1));
    folds.sort_unstable();
    folds
}

/// What greedy decoding read in one crop: the text, one confidence and one list of
/// alternatives per character.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded {
    pub text: String,
    pub confidences: Vec<f32>,
    pub alternatives: Vec<Alternatives>,
}

/// Greedy CTC decoding of one sequence of `steps × classes` probabilities: the most probable
/// class per step, runs of the same class merged, blanks (class 0) dropped. Each character's
/// confidence is the highest probability over its run; its alternatives are the other
/// non-blank classes by their highest probability over the run (at most [`MAX_ALTERNATIVES`],
/// each at least [`MIN_ALTERNATIVE`]), which lets a caller that knows a field's alphabet and check character
/// reconsider a doubtful character (`verify::correct`). Leading and trailing spaces are trimmed.
pub fn ctc_greedy(probs: &[f32], classes: usize, charset: &Charset) -> Decoded {
    // (text, confidence, first and last step of its run, class)
    let folded;
    let probs = if charset.folds.is_empty() {
        probs
    } else {
        folded = charset.folded(probs, classes);
        &folded
    };
    let mut text: Vec<(&str, f32, usize, usize, usize)> = Vec::new();
    let mut prev = 0usize;
    for (t, step) in probs.chunks_exact(classes).enumerate() {
        let (best, p) =
            step.iter().enumerate().fold(
                (0usize, f32::MIN),
                |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc },
            );
        if best != 0 {
            if best == prev {
                if let Some(last) = text.last_mut() {
                    (last.1, last.3) = (last.1.max(p), t);
                }
            } else {
                let s = charset.classes.get(best).map(String::as_str).unwrap_or("");
                text.push((s, p, t, t, best));
            }
        }
        prev = best;
    }
    while text.first().is_some_and(|t| t.0.trim().is_empty()) {
        text.remove(0);
    }
    while text.last().is_some_and(|t| t.0.trim().is_empty()) {
        text.pop();
    }
    let mut out = Decoded::default();
    for (s, p, t0, t1, class) in text {
        out.text.push_str(s);
        let alternatives =
            charset.alternatives(&probs[t0 * classes..(t1 + 1) * classes], classes, class);
        // One confidence per char of the output (dictionary entries are single characters).
        for _ in s.chars() {
            out.confidences.push(p);
            out.alternatives.push(alternatives.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_hot(seq: &[usize], classes: usize, p: f32) -> Vec<f32> {
        let mut v = vec![(1.0 - p) / (classes - 1) as f32; seq.len() * classes];
        for (t, &c) in seq.iter().enumerate() {
            v[t * classes + c] = p;
        }
        v
    }

    #[test]
    fn ctc_merges_repeats_and_drops_blanks() {
        let cs = Charset::from_dictionary("姓\n名\n张\n三\n1");
        assert_eq!(cs.len(), 7); // blank + 5 + space
        // 姓 姓 _ 名 _ _ 张 三 三 _ 三 → 姓名张三三
        let seq = [1, 1, 0, 2, 0, 0, 3, 4, 4, 0, 4];
        let Decoded {
            text,
            confidences: confs,
            ..
        } = ctc_greedy(&one_hot(&seq, 7, 0.9), 7, &cs);
        assert_eq!(text, "姓名张三三");
        assert_eq!(confs.len(), 5);
        assert!(confs.iter().all(|&c| (c - 0.9).abs() < 1e-6));
    }

    // A multilingual recogniser split its belief between 汉 and 漢 (0.52 / 0.48) and between
    // 1 and １ on clean cards, which sent them to review as doubtful; the standard form takes
    // both shares. 於, a surname in simplified use, is not folded into 于.
    #[test]
    fn a_variants_probability_goes_to_its_standard_form() {
        let cs = Charset::from_dictionary("1\n１\n汉\n漢\n于\n於");
        let classes = cs.len();
        let mut probs = vec![0.0f32; 4 * classes];
        for (t, (a, b)) in [(1, 2), (0, 0), (3, 4), (5, 6)].into_iter().enumerate() {
            let step = &mut probs[t * classes..(t + 1) * classes];
            if a == 0 {
                step[0] = 1.0;
            } else {
                (step[a], step[b]) = (0.51, 0.49);
            }
        }
        let d = ctc_greedy(&probs, classes, &cs);
        assert_eq!(d.text, "1汉于");
        assert!(d.confidences[..2].iter().all(|&p| p > 0.99), "{d:?}");
        assert!(d.alternatives[..2].iter().all(Vec::is_empty), "{d:?}");
        assert_eq!(d.alternatives[2], vec![('於', 0.49)]);
    }

    #[test]
    fn ctc_trims_spaces_and_keeps_inner_ones() {
        let cs = Charset::from_dictionary("A\nB\n");
        let space = cs.len() - 1;
        let seq = [space, 1, 0, space, 2, space, 0];
        let d = ctc_greedy(&one_hot(&seq, cs.len(), 0.8), cs.len(), &cs);
        let (text, confs) = (d.text, d.confidences);
        assert_eq!(text, "A B");
        assert_eq!(confs.len(), 3);
    }

    #[test]
    fn ctc_confidence_is_the_best_of_a_run() {
        let cs = Charset::from_dictionary("X");
        let probs = vec![0.1, 0.6, 0.3, 0.05, 0.9, 0.05];
        let d = ctc_greedy(&probs, 3, &cs);
        assert_eq!(d.text, "X");
        assert_eq!(d.confidences, vec![0.9]);
    }

    // A "7" the recogniser nearly read as "1": the runner-ups are kept with their highest
    // probability over the 7's run; blanks, the chosen class and improbable classes are not.
    #[test]
    fn ctc_keeps_the_runner_ups_of_each_character() {
        let cs = Charset::from_dictionary("1\n7\n8");
        // classes: blank, 1, 7, 8, space
        #[rustfmt::skip]
        let probs = vec![
            0.9, 0.05, 0.04, 0.005, 0.005,
            0.05, 0.40, 0.52, 0.03, 0.0,
            0.1, 0.2, 0.6, 0.1, 0.0,
            0.97, 0.0, 0.0, 0.03, 0.0,
        ];
        let d = ctc_greedy(&probs, 5, &cs);
        assert_eq!(d.text, "7");
        assert_eq!(d.confidences, vec![0.6]);
        assert_eq!(d.alternatives, vec![vec![('1', 0.4), ('8', 0.1)]]);
    }

    #[test]
    fn batches_group_similar_widths() {
        let widths = [300, 50, 310, 60, 900, 55, 58];
        let b = batches(&widths, 3);
        assert_eq!(b, vec![vec![1, 5, 6], vec![3], vec![0, 2], vec![4]]);
    }

    #[test]
    fn tall_boxes_are_turned() {
        let img = RgbImage::from_pixel(100, 300, image::Rgb([255, 255, 255]));
        let c = crop(
            &img,
            &[[10.0, 10.0], [40.0, 10.0], [40.0, 250.0], [10.0, 250.0]],
        );
        assert_eq!(c.image.height(), REC_HEIGHT);
        assert!(c.image.width() > 5 * REC_HEIGHT);
    }
}
