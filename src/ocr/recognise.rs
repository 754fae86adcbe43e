//! Crops, direction classification and recognition: everything between a text box and its
//! string, except running the models.
//!
//! A box is cut out square-on at the recogniser's height (48 px), turned a quarter when it is
//! much taller than wide (PaddleOCR's `get_rotate_crop_image`). The classifier sees the crop
//! padded to 192 px; the recogniser sees crops sorted by width and batched, each batch padded
//! to its widest crop only. Its output is decoded greedily (CTC: best class per time step,
//! repeats merged, blanks dropped).

use image::RgbImage;

use crate::scan::geometry;

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
        Charset { classes }
    }

    /// Number of classes, blank and space included.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.classes.len() <= 2
    }
}

/// Greedy CTC decoding of one sequence of `steps × classes` probabilities: the most probable
/// class per step, runs of the same class merged, blanks (class 0) dropped. Each character's
/// confidence is the highest probability over its run. Leading and trailing spaces are
/// trimmed.
pub fn ctc_greedy(probs: &[f32], classes: usize, charset: &Charset) -> (String, Vec<f32>) {
    let mut text: Vec<(&str, f32)> = Vec::new();
    let mut prev = 0usize;
    for step in probs.chunks_exact(classes) {
        let (best, p) =
            step.iter().enumerate().fold(
                (0usize, f32::MIN),
                |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc },
            );
        if best != 0 {
            if best == prev {
                if let Some(last) = text.last_mut() {
                    last.1 = last.1.max(p);
                }
            } else {
                let s = charset.classes.get(best).map(String::as_str).unwrap_or("");
                text.push((s, p));
            }
        }
        prev = best;
    }
    while text.first().is_some_and(|(s, _)| s.trim().is_empty()) {
        text.remove(0);
    }
    while text.last().is_some_and(|(s, _)| s.trim().is_empty()) {
        text.pop();
    }
    let mut out = String::new();
    let mut confs = Vec::new();
    for (s, p) in text {
        out.push_str(s);
        // One confidence per char of the output (dictionary entries are single characters).
        for _ in s.chars() {
            confs.push(p);
        }
    }
    (out, confs)
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
        let (text, confs) = ctc_greedy(&one_hot(&seq, 7, 0.9), 7, &cs);
        assert_eq!(text, "姓名张三三");
        assert_eq!(confs.len(), 5);
        assert!(confs.iter().all(|&c| (c - 0.9).abs() < 1e-6));
    }

    #[test]
    fn ctc_trims_spaces_and_keeps_inner_ones() {
        let cs = Charset::from_dictionary("A\nB\n");
        let space = cs.len() - 1;
        let seq = [space, 1, 0, space, 2, space, 0];
        let (text, confs) = ctc_greedy(&one_hot(&seq, cs.len(), 0.8), cs.len(), &cs);
        assert_eq!(text, "A B");
        assert_eq!(confs.len(), 3);
    }

    #[test]
    fn ctc_confidence_is_the_best_of_a_run() {
        let cs = Charset::from_dictionary("X");
        let probs = vec![0.1, 0.6, 0.3, 0.05, 0.9, 0.05];
        let (text, confs) = ctc_greedy(&probs, 3, &cs);
        assert_eq!(text, "X");
        assert_eq!(confs, vec![0.9]);
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
