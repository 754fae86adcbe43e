//! Coloured ink set aside before reading. Red to yellow ink: the round seal printed over
//! 登记机关 and the issue date, the 样本 overprint, a red 仅供…使用 stamp, the red and gold of the
//! emblem and the licence's border (DOMAIN.md, "What else the 2019 template prints"). Blue
//! ink: a stamped or handwritten 仅供办理XX使用，他用无效 across a licence's copy — but an
//! identity card prints its labels in blue, so all blue is set aside only where the caller
//! knows the page is a licence. On any page the violet-blue of stamp pads and pens (green
//! hardly above red) is set aside: the card's labels are a greener blue (green well above
//! red), and stay. Fields are printed in black; where black print lies under the ink the pixel
//! stays dark and is kept.

use image::RgbImage;

/// Whether a pixel is light enough not to be print (at least 110 of 255; black print, under
/// ink too, stays below) and saturated (its weakest channel at most 65 % of its strongest).
/// Measured on the tuning specimens: taking in paler pixels (80 %) also ate the edges of black
/// strokes touching the ink, and fields were lost (fields 86.9 % → 82.4 %).
fn inked(max: u8, min: u8) -> bool {
    max >= 110 && u32::from(min) * 100 <= u32::from(max) * 65
}

/// A pixel of red to yellow ink: red its strongest channel, clearly above blue.
pub fn is_warm_ink([r, g, b]: [u8; 3]) -> bool {
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    r == max && r >= b.saturating_add(30) && inked(max, min)
}

/// A pixel of blue ink: blue its strongest channel, clearly above red.
pub fn is_cool_ink([r, g, b]: [u8; 3]) -> bool {
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    b == max && b >= r.saturating_add(40) && inked(max, min)
}

/// A pixel of the blend of blue ink and paper along the ink's strokes: blue its strongest
/// channel, at least 30 above red, as light as [`inked`] asks, its weakest channel up to 80 %
/// of its strongest. [`is_cool_ink`]'s saturation leaves the blend out, and on a licence the
/// blend around a navy pen's writing (112, 112, 160 and paler) drew each character's outline;
/// the detector took the outlines and the 住所 line under them as one box whose score fell
/// below its threshold, and the address was lost. Black print blended with paper is no bluer
/// than the paper; with ink it stays darker than [`inked`] takes. Set aside after
/// [`is_cool_ink`], as an ink of its own: counted in the ink's brightness, the blend lowered
/// the ink's gain (see [`without`]) and its letters turned grey rather than paper.
pub fn is_blue_ink([r, g, b]: [u8; 3]) -> bool {
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    b == max
        && b >= r.saturating_add(30)
        && max >= 110
        && u32::from(min) * 100 <= u32::from(max) * 80
}

/// A pixel of violet-blue ink — a stamp pad's or a pen's, not the card labels' blue: blue ink
/// whose green is less than 20 above its red. Measured on the tuning specimens (cards, clean,
/// phone and turned scans): over the stamp and the writing green − red is 0–19 (a few pixels
/// below 0), over the labels 30–69 on scans and 20–59 under a phone's warm or cool cast.
pub fn is_violet_ink(p @ [r, g, _]: [u8; 3]) -> bool {
    is_cool_ink(p) && g < r.saturating_add(20)
}

/// The value below which a share `q` of the histogram's pixels lie.
fn quantile(hist: &[u64; 256], q: f64) -> u8 {
    let total: u64 = hist.iter().sum();
    let mut seen = 0;
    for (v, n) in hist.iter().enumerate() {
        seen += n;
        if seen as f64 >= q * total as f64 && seen > 0 {
            return v as u8;
        }
    }
    255
}

/// How far (pixels) ink's antialiased rim reaches beyond the pixels [`inked`] takes: a blend
/// of ink and paper too pale to be taken as ink, which left in place draws each character's
/// outline, and the detector reads the outlines as text (a blue 仅供…使用 stamp read through,
/// its box swallowing the 住所 label under it).
const RIM: usize = 2;

/// A rim pixel is set aside only when at most this much darker (strongest channel) than the
/// paper: the edge of black print beside the ink is darker and stays, on an overexposed page
/// too, where print is lighter than on a good scan.
const RIM_DARKER: u8 = 60;

/// The side (pixels) of the squares whose own ground colour replaces the ink inside them: a
/// card's tinted and patterned ground is not the white of the lightest pixels, and ink
/// turned to white there leaves its letters readable (样本 read as 羊本).
const GROUND_BLOCK: usize = 16;

/// `img` with every pixel one of `inks` picks, and the pale rim around it ([`RIM`],
/// [`RIM_DARKER`]), turned to the ground's colour around it ([`ground`]) darkened by what the
/// ink covered: the pixel's strongest channel brightened by its ink's gain — the paper's
/// brightness (the 90th percentile of every pixel's strongest channel) over the ink's own
/// (the same percentile over that ink's pixels) — over the paper's brightness. Ink over bare
/// paper becomes paper, neither a faint grey text nor a white one the detector still finds (a
/// blue stamp's strongest channel is 194 on a 240 ground), while ink over black print stays
/// as much darker as the print made it. Other pixels unchanged.
fn without(img: &RgbImage, inks: &[fn([u8; 3]) -> bool]) -> RgbImage {
    let strongest = |p: [u8; 3]| p[0].max(p[1]).max(p[2]);
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut all = [0u64; 256];
    let mut per = vec![[0u64; 256]; inks.len()];
    let mut which: Vec<Option<u8>> = Vec::with_capacity(w * h);
    for p in img.pixels() {
        let v = usize::from(strongest(p.0));
        all[v] += 1;
        let k = inks.iter().position(|is_ink| is_ink(p.0));
        if let Some(k) = k {
            per[k][v] += 1;
        }
        which.push(k.map(|k| k as u8));
    }
    let paper = quantile(&all, 0.9);
    let gains: Vec<f32> = per
        .iter()
        .map(|h| {
            let own = quantile(h, 0.9).max(1);
            f32::from(paper.max(own)) / f32::from(own)
        })
        .collect();
    let rim = near(&which, w, h);
    let light = paper.saturating_sub(RIM_DARKER);
    let taken: Vec<Option<u8>> = img
        .pixels()
        .enumerate()
        .map(|(i, p)| which[i].or(rim[i].filter(|_| strongest(p.0) >= light)))
        .collect();
    let grounds = ground(img, &taken, paper);
    let blocks_across = w.div_ceil(GROUND_BLOCK);
    let mut out = img.clone();
    for (i, p) in out.pixels_mut().enumerate() {
        if let Some(k) = taken[i] {
            let share = (f32::from(strongest(p.0)) * gains[usize::from(k)]
                / f32::from(paper.max(1)))
            .min(1.0);
            let block = (i / w) / GROUND_BLOCK * blocks_across + (i % w) / GROUND_BLOCK;
            p.0 = grounds[block].map(|c| (c * share).round() as u8);
        }
    }
    out
}

/// The ground's colour in each [`GROUND_BLOCK`] square, row by row: the mean of its pixels
/// neither `taken` as ink nor print (strongest channel within [`RIM_DARKER`] of `paper`), or
/// of the whole page's such pixels where a square has none.
fn ground(img: &RgbImage, taken: &[Option<u8>], paper: u8) -> Vec<[f32; 3]> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let across = w.div_ceil(GROUND_BLOCK);
    let mut sums = vec![[0f64; 4]; across * h.div_ceil(GROUND_BLOCK)];
    let mut page = [0f64; 4];
    let light = paper.saturating_sub(RIM_DARKER);
    for (i, p) in img.pixels().enumerate() {
        if taken[i].is_some() || p.0.iter().max().is_none_or(|&m| m < light) {
            continue;
        }
        let block = (i / w) / GROUND_BLOCK * across + (i % w) / GROUND_BLOCK;
        for s in [&mut sums[block], &mut page] {
            for (sum, &v) in s.iter_mut().zip(&p.0) {
                *sum += f64::from(v);
            }
            s[3] += 1.0;
        }
    }
    let mean = |s: &[f64; 4]| [0, 1, 2].map(|c| (s[c] / s[3]) as f32);
    let fallback = if page[3] > 0.0 {
        mean(&page)
    } else {
        [f32::from(paper); 3]
    };
    sums.iter()
        .map(|s| if s[3] > 0.0 { mean(s) } else { fallback })
        .collect()
}

/// For every pixel, the ink (the first in `which`'s order) of some pixel within [`RIM`] of it
/// in both directions; `which` gives each pixel's own ink, row by row over a `w` × `h` image.
fn near(which: &[Option<u8>], w: usize, h: usize) -> Vec<Option<u8>> {
    let spread = |get: &dyn Fn(usize) -> Option<u8>, i: usize, n: usize| {
        (i.saturating_sub(RIM)..(i + RIM + 1).min(n))
            .filter_map(get)
            .min()
    };
    let mut across = vec![None; w * h];
    for y in 0..h {
        for x in 0..w {
            across[y * w + x] = spread(&|j| which[y * w + j], x, w);
        }
    }
    let mut out = vec![None; w * h];
    for y in 0..h {
        for x in 0..w {
            out[y * w + x] = spread(&|j| across[j * w + x], y, h);
        }
    }
    out
}

/// `img` without its red to yellow and its violet-blue ink (any page: seal, emblem, border,
/// 样本, a stamped or written 仅供…使用 in red or blue; a card's greener blue labels kept).
pub fn without_overprint_ink(img: &RgbImage) -> RgbImage {
    without(img, &[is_warm_ink, is_violet_ink])
}

/// `img` without its red to yellow ink only: for a page on which nothing was found once its
/// violet-blue went too (a card's labels under a screen's violet cast, see
/// `verify::Verifier::read_page`).
pub fn without_warm_ink(img: &RgbImage) -> RgbImage {
    without(img, &[is_warm_ink])
}

/// `img` without its blue ink and the blend of it and paper along its strokes
/// ([`is_blue_ink`]): a licence's page, which prints nothing in blue, or the address bands of
/// a card, whose blue labels lie outside them.
pub fn without_cool_ink(img: &RgbImage) -> RgbImage {
    without(img, &[is_cool_ink, is_blue_ink])
}

/// Where a page's mid-greys end, as a share of the way from its ink to its paper: a
/// black-and-white copy turns the 样本 overprint and a stamp into a flat grey about halfway
/// between print and paper, which no colour tells apart (see [`without_grey`]). Chosen on the
/// seen seed 7160's 228 photocopies (fields read: 0.5 → 1772, 0.65 → 1786, 0.75 → 1782 of
/// 1966): lower thins print's strokes until 示 reads as 小, higher leaves the overprint grey.
const GREY_LEVEL: f32 = 0.65;

/// `img` with its mid-greys turned to paper or near it: every channel stretched so that the
/// ink's level (the darkest 1 % of the pixels' strongest channel) becomes black and the level
/// [`GREY_LEVEL`] of the way to the paper's (the 90th percentile) becomes white. On a photocopy a grey 样本 or
/// stamp across a line drew the detector's box around both, whose score then fell below its
/// threshold, and the line was lost; its black print keeps its cores, only its edges thin.
/// Taken relative to the page's own ink and paper, it holds for dark and washed-out copies.
pub fn without_grey(img: &RgbImage) -> RgbImage {
    without_grey_above(img, GREY_LEVEL)
}

/// `img` with the greys above `level` of the way from its ink to its paper set to paper
/// ([`without_grey`] at [`GREY_LEVEL`]).
pub fn without_grey_above(img: &RgbImage, level: f32) -> RgbImage {
    let (ink, paper) = ink_and_paper(img);
    levelled(img, ink, ink + level * (paper - ink))
}

/// `img` with its levels stretched: the ink's (the darkest 1 % of the pixels' strongest
/// channel) to black and the paper's (the 90th percentile) to white. A washed-out copy's
/// faint marks — a 。 printed as a small ring, the thinnest of its print — come back dark
/// enough for the recogniser, which reads pixels as they are.
pub fn stretched(img: &RgbImage) -> RgbImage {
    let (ink, paper) = ink_and_paper(img);
    levelled(img, ink, paper)
}

/// The levels of a page's ink (the darkest 1 % of its pixels' strongest channel) and paper
/// (the 90th percentile).
fn ink_and_paper(img: &RgbImage) -> (f32, f32) {
    let mut hist = [0u64; 256];
    for p in img.pixels() {
        hist[usize::from(p.0[0].max(p.0[1]).max(p.0[2]))] += 1;
    }
    (
        f32::from(quantile(&hist, 0.01)),
        f32::from(quantile(&hist, 0.9)),
    )
}

/// `img` with every channel stretched so that `ink` becomes black and `white` white.
fn levelled(img: &RgbImage, ink: f32, white: f32) -> RgbImage {
    if white - ink < 1.0 {
        return img.clone();
    }
    let scale = 255.0 / (white - ink);
    let mut out = img.clone();
    for p in out.pixels_mut() {
        p.0 =
            p.0.map(|c| ((f32::from(c) - ink) * scale).clamp(0.0, 255.0) as u8);
    }
    out
}

/// Whether at least 2 pixels in 1000 are blue ink: a stamp or writing across the page, not a
/// speck.
pub fn has_cool_ink(img: &RgbImage) -> bool {
    let n = img.pixels().filter(|p| is_cool_ink(p.0)).count() as u64;
    n * 1000 >= 2 * u64::from(img.width()) * u64::from(img.height())
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    // Issue 13: a washed-out copy's faint marks (a 。's ring) come back dark enough to read;
    // its ink goes black and its paper white.
    #[test]
    fn a_washed_out_crop_is_stretched_from_its_ink_to_its_paper() {
        let img = RgbImage::from_fn(100, 10, |x, _| match x {
            0..2 => Rgb([150, 150, 150]),
            2..8 => Rgb([215, 215, 215]),
            _ => Rgb([250, 250, 250]),
        });
        let out = stretched(&img);
        assert_eq!(out.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(out.get_pixel(50, 0).0, [255, 255, 255]);
        let mark = out.get_pixel(5, 0).0[0];
        assert!((160..170).contains(&mark), "{mark}");
    }

    #[test]
    fn ink_goes_black_print_and_paper_stay() {
        for ink in [[210, 30, 30], [229, 120, 110], [240, 200, 60]] {
            assert!(is_warm_ink(ink) && !is_cool_ink(ink), "{ink:?}");
        }
        for ink in [[40, 90, 170], [120, 140, 235]] {
            assert!(is_cool_ink(ink) && !is_warm_ink(ink), "{ink:?}");
        }
        // Black print, print under red ink, a pale ink edge, cream and white paper, grey.
        for not in [
            [238, 180, 170],
            [22, 22, 22],
            [100, 20, 20],
            [245, 240, 228],
            [255, 255, 255],
            [150, 150, 150],
        ] {
            assert!(!is_warm_ink(not) && !is_cool_ink(not), "{not:?}");
        }
        let mut img = RgbImage::from_pixel(2, 1, Rgb([22, 22, 22]));
        img.put_pixel(1, 0, Rgb([210, 30, 30]));
        let out = without_overprint_ink(&img);
        assert_eq!(out.get_pixel(0, 0).0, [22, 22, 22]);
        assert_eq!(out.get_pixel(1, 0).0, [210, 210, 210]);
        assert!(!has_cool_ink(&img));
        img.put_pixel(1, 0, Rgb([40, 90, 170]));
        assert!(has_cool_ink(&img));
        assert_eq!(without_cool_ink(&img).get_pixel(1, 0).0, [170, 170, 170]);
    }

    #[test]
    fn a_stamps_violet_blue_goes_a_cards_blue_labels_stay() {
        // A stamp pad's blue at two thirds over the card's pale ground, a blue-black pen, the
        // same under a warm cast; the card labels' blue, its antialiased edge, under a warm cast.
        for stamp in [[104, 119, 194], [46, 55, 132], [110, 119, 175]] {
            assert!(is_violet_ink(stamp), "{stamp:?}");
        }
        for label in [[35, 95, 165], [94, 138, 188], [37, 95, 148]] {
            assert!(
                is_cool_ink(label) && !is_violet_ink(label) && !is_warm_ink(label),
                "{label:?}"
            );
        }
        // On a card's pale ground: black print, the stamp, a label beside it.
        let mut img = RgbImage::from_pixel(16, 1, Rgb([236, 240, 244]));
        img.put_pixel(0, 0, Rgb([22, 22, 22]));
        img.put_pixel(1, 0, Rgb([104, 119, 194]));
        img.put_pixel(2, 0, Rgb([35, 95, 165]));
        let out = without_overprint_ink(&img);
        assert_eq!(out.get_pixel(0, 0).0, [22, 22, 22]);
        assert_eq!(out.get_pixel(1, 0).0, [236, 240, 244]);
        assert_eq!(out.get_pixel(2, 0).0, [35, 95, 165]);
    }

    #[test]
    fn ink_over_paper_becomes_paper_ink_over_print_stays_darker() {
        // A card's pale ground, a blue stamp across it (its strongest channel 194), the stamp
        // over the edge of a black stroke (130).
        let mut img = RgbImage::from_pixel(20, 1, Rgb([232, 238, 242]));
        img.put_pixel(0, 0, Rgb([104, 119, 194]));
        img.put_pixel(1, 0, Rgb([60, 66, 130]));
        let out = without_overprint_ink(&img);
        assert_eq!(out.get_pixel(0, 0).0, [232, 238, 242]);
        let edge = out.get_pixel(1, 0).0[0];
        assert!((140..200).contains(&edge), "{edge}");
        assert_eq!(out.get_pixel(5, 0).0, [232, 238, 242]);
    }

    #[test]
    fn the_blend_along_a_navy_pens_strokes_goes_with_the_ink() {
        // Issue 13: navy writing across a licence's 住所 line left, once its ink was set aside,
        // the blend of ink and paper along each stroke; the detector took those outlines with
        // the address under them into one box, dropped for its low score. Cream paper; a navy
        // stroke's core between its blend with the paper on either side, too dark for the
        // rim; print's antialiased edge and its core; a lone pixel of the blend, which goes too.
        let paper = [250, 247, 238];
        let mut img = RgbImage::from_pixel(40, 1, Rgb(paper));
        img.put_pixel(9, 0, Rgb([140, 140, 176]));
        img.put_pixel(10, 0, Rgb([24, 32, 120]));
        img.put_pixel(11, 0, Rgb([112, 112, 160]));
        img.put_pixel(20, 0, Rgb([120, 118, 110]));
        img.put_pixel(21, 0, Rgb([22, 22, 22]));
        img.put_pixel(32, 0, Rgb([112, 112, 160]));
        assert!(!is_cool_ink([112, 112, 160]) && is_blue_ink([112, 112, 160]));
        assert!(!is_blue_ink([120, 118, 110]) && !is_blue_ink(paper));
        let out = without_cool_ink(&img);
        for x in [9, 10, 11, 32] {
            let p = out.get_pixel(x, 0).0;
            assert!(
                p.iter()
                    .zip(paper)
                    .all(|(&c, q)| u16::from(c) + 25 >= u16::from(q)),
                "{x}: {p:?}"
            );
        }
        assert_eq!(out.get_pixel(20, 0).0, [120, 118, 110]);
        assert_eq!(out.get_pixel(21, 0).0, [22, 22, 22]);
    }

    #[test]
    fn the_inks_pale_rim_goes_print_beside_it_stays() {
        // Issue 13: a blue stamp's letters turned to paper left their antialiased rim — ink
        // blended with paper, too pale to be taken as ink — and the detector read the
        // outlines as text. Cream paper; stamp ink; its rim on either side; black print two
        // pixels beyond the rim; a rim-coloured pixel far from any ink.
        let paper = [250, 247, 238];
        let mut img = RgbImage::from_pixel(32, 1, Rgb(paper));
        img.put_pixel(10, 0, Rgb([110, 122, 192]));
        img.put_pixel(9, 0, Rgb([226, 226, 230]));
        img.put_pixel(11, 0, Rgb([184, 188, 217]));
        img.put_pixel(12, 0, Rgb([60, 60, 60]));
        img.put_pixel(28, 0, Rgb([226, 226, 230]));
        let out = without_overprint_ink(&img);
        for x in [9, 10, 11] {
            assert_eq!(out.get_pixel(x, 0).0, paper, "{x}");
        }
        assert_eq!(out.get_pixel(12, 0).0, [60, 60, 60]);
        assert_eq!(out.get_pixel(28, 0).0, [226, 226, 230]);
    }

    #[test]
    fn ink_takes_the_colour_of_the_ground_around_it() {
        // A card's tinted ground beside white: red 样本 over the tint becomes the tint, not
        // white letters on it that read as 羊本.
        let tint = [200, 222, 240];
        let mut img = RgbImage::from_pixel(32, 1, Rgb([252, 252, 252]));
        for x in 16..32 {
            img.put_pixel(x, 0, Rgb(tint));
        }
        img.put_pixel(24, 0, Rgb([230, 90, 90]));
        let out = without_overprint_ink(&img);
        assert_eq!(out.get_pixel(24, 0).0, tint);
        assert_eq!(out.get_pixel(4, 0).0, [252, 252, 252]);
    }

    #[test]
    fn a_copys_grey_overprint_becomes_paper_its_black_print_stays() {
        // Issue 13: a black-and-white copy turns the 样本 overprint into a flat grey between
        // print and paper, which no colour tells apart. On a copy's paper, on a dark copy's and
        // on a washed-out one's: print's core (2 % of the pixels), the grey overprint across
        // the line (8 %) about halfway, paper. The overprint ends near paper, print black.
        for (paper, print, grey) in [(230u8, 20u8, 130u8), (50, 5, 28), (255, 120, 190)] {
            let mut img = RgbImage::from_pixel(100, 1, Rgb([paper; 3]));
            for x in 0..2 {
                img.put_pixel(x, 0, Rgb([print; 3]));
            }
            for x in 2..10 {
                img.put_pixel(x, 0, Rgb([grey; 3]));
            }
            let out = without_grey(&img);
            assert_eq!(out.get_pixel(0, 0).0, [0; 3], "print on {paper}");
            let overprint = out.get_pixel(5, 0).0;
            assert!(
                overprint.iter().all(|&c| c >= 200),
                "{overprint:?} on {paper}"
            );
            assert_eq!(out.get_pixel(50, 0).0, [255; 3], "paper {paper}");
        }
        // A blank page stays as it is.
        let blank = RgbImage::from_pixel(4, 4, Rgb([240; 3]));
        assert_eq!(without_grey(&blank), blank);
    }
}
