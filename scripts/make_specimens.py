#!/usr/bin/env python3
"""Synthetic specimens for evaluating document verification (`xiaoban eval-docs`).

Draws resident identity cards and business licences from their published layouts — not from
what the reader handles — with FICTIONAL data (示例市, invented names, numbers generated with
correct or deliberately wrong check characters), in scan, photo, photocopy and rotated
conditions, and writes the truth beside them in `truth.json`:

    python3 scripts/make_specimens.py OUT_DIR [--count N] [--seed S] [--today YYYY-MM-DD]
                                      [--conditions clean,phone,...]

What is drawn:

- the resident identity card (GA 450, ID-1 85.6 × 54 mm at 10 px/mm): the front (人像面:
  姓名, 性别, 民族, 出生 年 月 日, 住址 wrapping over up to three lines, 公民身份号码 in OCR-B,
  the photo) and the back (国徽面: the emblem, 中华人民共和国 / 居民身份证, 签发机关, 有效期限),
  both over a pastel guilloche;
- the 2019 business licence (副本), landscape (横版) and portrait (竖版), company and 个体工商户
  (经营者, 组成形式, 注册日期, 经营场所, no 注册资本) variants, with every element the template
  prints: the ornamental border, the national emblem, the title and (副本), the code at the
  top left, the QR code and its caption, the footer lines (网址, 年度报告, 监制), and the round
  red seal printed over 登记机关 and the issue date;
- overprints: 样本 on every specimen, and on a quarter each a stamped or a handwritten-style
  仅供办理XX使用，他用无效 across the fields — drawn apart from the condition, so every
  condition sees every overprint in the same shares (`overprint_of`).

Conditions (case i gets CONDITIONS[i % 16], or the (i mod k)-th of `--conditions`): a flat
scan (clean), a phone photo on a wooden or cloth background (phone), a steep angle
(perspective), blur, glare, a crop, dark, overexposed, low resolution, a black-and-white
photocopy (toner: grey, hard contrast, speckle; scanned or photographed; the holder's
仅供…使用 written or stamped on the original and copied grey, or on the copy in ink), scans
turned by 90, 180 or 270 degrees, a photo of the document shown on a screen (recapture, 翻拍:
see `screen_photo`), and photocopies photographed dim or washed out. A crop cuts the card at
68–72 % and the licence at 84–88 % of its width; a field whose printed value the cut reaches
(the value boxes the template drew, `Doc.cut_off`) leaves `fields` for `not_visible`.

Invalid variants are drawn without regard to what any reader detects. Every kind of wrong check
character is made in turn (the 10 wrong GB 11643 characters, the 30 wrong GB 32100 characters,
wrong GB 11714 organisation check characters); the truth records, for each, whether a single
look-alike slip (see LOOKALIKE below, chosen from the printed glyphs' shapes) turns the number
into a valid one — then a reader cannot tell a wrong print from its own misreading and the
right verdict is `review`; otherwise `fail`. A card back uploaded alone is `review` (the
validity term depends on the holder's age, printed on the front; 居民身份证法 第五条).

Truth per case: kind, layout, condition, variant, overprint, the field values as the analysis
should normalise them, the checks expected to fail, the image warnings expected (`copy` for
photocopies), the verdict, and per image the text lines a perfect OCR would return (text and
quad in the pixels of the image turned upright; `rotation` says by how many degrees clockwise
the stored image is turned) — what `eval-docs --truth-lines` feeds the analysis. Lines include
the caption, footer and overprint text a reader must set aside; the seal's curved text is not
a line. Printed values the report does not read (组成形式) are under `other_printed`.

The check characters are computed here from the standards (GB 11643, GB 11714, GB 32100). The
output depends only on the arguments (seeded; no clock, no network). Needs Pillow (pinned in
scripts/requirements-specimens.txt) and Debian's fonts-noto-cjk and fonts-ocr-b.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import sys
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

CONDITIONS = [
    "clean",
    "phone",
    "perspective",
    "blur",
    "glare",
    "crop",
    "dark",
    "overexposed",
    "low_resolution",
    "photocopy",
    "rotate90",
    "rotate180",
    "rotate270",
    "recapture",
    "photocopy_dark",
    "photocopy_overexposed",
]
EXPECTED_WARNING = {
    "blur": ["blur"],
    "glare": ["glare"],
    "crop": ["cut_off"],
    "dark": ["too_dark"],
    "overexposed": ["overexposed"],
    "low_resolution": ["low_resolution"],
    "photocopy": ["copy"],
    "photocopy_dark": ["copy", "too_dark"],
    "photocopy_overexposed": ["copy", "overexposed"],
    "recapture": ["recapture"],
}
ID_INVALID = ["bad_check_digit", "expired", "sex_mismatch", "birth_mismatch", "term_wrong_for_age"]
LICENCE_INVALID = ["bad_check_digit", "bad_organisation_check", "term_ended", "type_mismatch"]
LICENCE_LAYOUTS = ["landscape_company", "portrait_company", "landscape_individual", "portrait_individual"]
OVERPRINTS = ["sample", "sample+stamp", "sample", "sample+handwritten"]


def overprint_of(seed: int, condition: str, k: int) -> str:
    """The overprint of the k-th case under `condition`: its own draw, apart from the
    condition's (every four cases of a condition get the four entries of OVERPRINTS in a
    shuffled order), so each condition sees each overprint in the same shares."""
    order = OVERPRINTS[:]
    random.Random(f"{seed}-overprint-{condition}-{k // len(order)}").shuffle(order)
    return order[k % len(order)]
PURPOSES = ["公司登记", "银行开户", "社保登记", "税务登记", "不动产登记", "营业执照变更"]

# --------------------------------------------------------------------------------------------
# Fonts
# --------------------------------------------------------------------------------------------

FONT_DIRS = [Path("/usr/share/fonts"), Path("/usr/local/share/fonts")]


def find_font(*names: str) -> Path | None:
    for d in FONT_DIRS:
        if not d.exists():
            continue
        for name in names:
            hits = sorted(d.rglob(name))
            if hits:
                return hits[0]
    return None


CJK_REGULAR = find_font("NotoSansCJK-Regular.ttc")
CJK_BOLD = find_font("NotoSansCJK-Bold.ttc") or CJK_REGULAR
SERIF = find_font("NotoSerifCJK-Regular.ttc") or CJK_REGULAR
SERIF_BOLD = find_font("NotoSerifCJK-Bold.ttc") or CJK_BOLD
OCR_B = find_font("OCRB.otf", "OCR-B.otf", "ocrb.otf")
if CJK_REGULAR is None:
    sys.exit("make_specimens: Noto Sans CJK not found (apt-get install fonts-noto-cjk)")


def _ttc_index(path: Path) -> int:
    """Index of the Simplified Chinese face inside a Noto CJK collection."""
    for i in range(10):
        try:
            f = ImageFont.truetype(str(path), 12, index=i)
        except OSError:
            break
        if f.getname()[0].endswith(" SC"):
            return i
    return 0


_FONTS: dict = {}


def font(kind: str, size: int) -> ImageFont.FreeTypeFont:
    key = (kind, size)
    if key not in _FONTS:
        path = {"regular": CJK_REGULAR, "bold": CJK_BOLD, "serif": SERIF, "serif_bold": SERIF_BOLD,
                "ocrb": OCR_B}[kind]
        if path is None:  # no OCR-B: the number in Noto Sans
            path = CJK_REGULAR
        index = _ttc_index(path) if str(path).endswith(".ttc") else 0
        _FONTS[key] = ImageFont.truetype(str(path), size, index=index)
    return _FONTS[key]


# --------------------------------------------------------------------------------------------
# Identifiers, from the standards
# --------------------------------------------------------------------------------------------

# GB 11643-1999 §5.2: ISO 7064 MOD 11-2; position i (1-based, left to right) weighs
# 2^(18-i) mod 11; check = (12 - Σ mod 11) mod 11, 10 written X.
def gb11643_check(first17: str) -> str:
    s = sum(int(c) * pow(2, 17 - i, 11) for i, c in enumerate(first17))
    v = (12 - s % 11) % 11
    return "X" if v == 10 else str(v)


def gb11643_valid(number: str) -> bool:
    if len(number) != 18 or not number[:17].isdigit() or number[17] not in "0123456789X":
        return False
    try:
        dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return number[17] == gb11643_check(number[:17])


# GB 32100-2015: the code alphabet (no I, O, S, V, Z), weights 3^(i-1) mod 31 for positions
# 1..17, check = 31 - Σ mod 31 (31 → 0).
GB32100_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def gb32100_check(first17: str) -> str:
    s = sum(GB32100_ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(first17))
    return GB32100_ALPHABET[(31 - s % 31) % 31]


# GB 11714-1997: eight body characters (digit value, or A=10 … Z=35), weights 3 7 9 10 5 8 4 2,
# check = 11 - Σ mod 11 (10 → X, 11 → 0).
def gb11714_check(body8: str) -> str:
    s = sum(int(c, 36) * w for c, w in zip(body8, [3, 7, 9, 10, 5, 8, 4, 2]))
    v = 11 - s % 11
    return "X" if v == 10 else "0" if v == 11 else str(v)


def gb32100_valid(code: str) -> bool:
    if len(code) != 18 or any(c not in GB32100_ALPHABET for c in code):
        return False
    return code[17] == gb32100_check(code[:17]) and code[16] == gb11714_check(code[8:16])


# Look-alike pairs in print: glyphs one stroke apart in OCR-B and Noto Sans (a closed or open
# loop, a bar more or less). A number one such slip from a valid one could be a misreading of
# that valid number, so only a person can tell.
LOOKALIKE = [("0", "8"), ("1", "7"), ("3", "8"), ("5", "6"), ("6", "8"), ("8", "9"),
             ("8", "B"), ("0", "D"), ("0", "Q"), ("6", "G")]


def lookalikes(c: str) -> list[str]:
    return [b if a == c else a for a, b in LOOKALIKE if c in (a, b)]


def slip_explains(number: str, valid) -> bool:
    """Whether replacing one character by a look-alike gives a number `valid` accepts."""
    for i, c in enumerate(number):
        for other in lookalikes(c):
            if valid(number[:i] + other + number[i + 1:]):
                return True
    return False


# --------------------------------------------------------------------------------------------
# Fictional data
# --------------------------------------------------------------------------------------------

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢欧阳"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国红文玉春晓雪梅海波宇浩然欣怡子涵嘉琪思远一鸣晨阳雨桐"
ETHNIC = ["汉"] * 12 + ["蒙古", "回", "藏", "维吾尔", "苗", "彝", "壮", "布依", "满", "朝鲜", "土家", "哈萨克", "白", "侗"]
REGIONS = ["110105", "310104", "440303", "510107", "330106", "350102", "420106", "610113", "230102", "370102"]
DISTRICTS = ["和平区", "新华区", "东城区", "西湖区", "高新区", "滨江区", "长安区", "临江区"]
ROADS = ["解放路", "人民大道", "建设街", "文化路", "光明巷", "朝阳路", "学府路", "河滨路", "中山路", "新华街"]
VILLAGES = ["红星村", "前进村", "柳树屯", "东风村", "石桥村"]
SHOP_WORDS = ["小石头", "青禾", "晨光", "好再来", "万家", "星河", "和顺", "福满", "知味", "向阳"]
TRADES = [("餐饮", "餐饮服务；食品销售；预包装食品零售"),
          ("商贸", "日用百货销售；五金产品零售；文具用品零售；服装服饰零售；家用电器销售"),
          ("科技", "一般项目：软件开发；信息技术咨询服务；计算机系统服务；技术服务、技术开发、技术咨询、技术交流、技术转让、技术推广（除依法须经批准的项目外，凭营业执照依法自主开展经营活动）"),
          ("文化传媒", "广告设计、代理；组织文化艺术交流活动；会议及展览服务"),
          ("便利店", "食品销售；日用百货销售；烟草制品零售"),
          ("家政服务", "家政服务；居民日常生活服务；保洁服务；养老服务（依法须经批准的项目，经相关部门批准后方可开展经营活动）")]
COMPANY_TYPES = ["有限责任公司（自然人投资或控股）", "有限责任公司（自然人独资）", "股份有限公司（非上市、自然人投资或控股）"]
CAPITALS = ["壹佰万元整", "伍拾万元整", "叁佰万元整", "壹仟万元整", "贰佰万元整", "捌佰万元整", "人民币伍佰万元整"]


def add_years(d: dt.date, n: int) -> dt.date:
    try:
        return d.replace(year=d.year + n)
    except ValueError:  # 29 February
        return d.replace(year=d.year + n, day=28)


def age_at(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def legal_term(age: int) -> int | None:
    """居民身份证法 第五条: <16 → 5 years, 16–25 → 10, 26–45 → 20, ≥46 → 长期 (None)."""
    return 5 if age < 16 else 10 if age <= 25 else 20 if age <= 45 else None


def rand_date(rng: random.Random, lo: dt.date, hi: dt.date) -> dt.date:
    return lo + dt.timedelta(days=rng.randint(0, max(0, (hi - lo).days)))


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice([1, 2, 2])))


def address(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return f"示例省示例县{rng.choice(VILLAGES)}{rng.randint(1, 12)}组{rng.randint(1, 99)}号"
    a = f"示例省示例市{rng.choice(DISTRICTS)}{rng.choice(ROADS)}{rng.randint(1, 399)}号"
    if rng.random() < 0.7:
        a += f"{rng.randint(1, 30)}栋{rng.randint(1, 6)}单元{rng.randint(1, 28)}0{rng.randint(1, 4)}室"
    return a


class Counter:
    """Cycles through every wrong check character, one per invalid case of its kind."""

    def __init__(self):
        self.n: dict[str, int] = {}

    def next(self, kind: str) -> int:
        self.n[kind] = self.n.get(kind, 0) + 1
        return self.n[kind] - 1


def id_card_data(rng: random.Random, today: dt.date, variant: str, counter: Counter) -> dict:
    for _ in range(2000):
        sex = rng.choice("男女")
        birth = rand_date(rng, add_years(today, -75), add_years(today, -3))
        region = rng.choice(REGIONS)
        seq = rng.randint(0, 99) * 10 + rng.choice([1, 3, 5, 7, 9] if sex == "男" else [0, 2, 4, 6, 8])
        body = f"{region}{birth:%Y%m%d}{seq:03d}"
        number = body + gb11643_check(body)
        lo = max(birth + dt.timedelta(days=30), add_years(today, -25))
        issued = rand_date(rng, lo, today - dt.timedelta(days=30))
        term = legal_term(age_at(birth, issued))
        end = None if term is None else add_years(issued, term)
        expired = end is not None and end < today
        if (variant == "expired") != expired:
            continue
        if variant == "term_wrong_for_age":
            # A term the law allows at some age, but not at the holder's age at issue; not ended.
            others = [t for t in (5, 10, 20, None) if t != term]
            others = [t for t in others if t is None or add_years(issued, t) >= today]
            if not others:
                continue
            term = rng.choice(others)
            end = None if term is None else add_years(issued, term)
        break
    else:
        raise RuntimeError("no card data for " + variant)
    d = {
        "name": person_name(rng),
        "sex": sex,
        "ethnicity": rng.choice(ETHNIC),
        "birth": birth,
        "address": address(rng),
        "id_number": number,
        "issuing_authority": f"示例市公安局{rng.choice(DISTRICTS)[:-1]}分局",
        "valid_from": issued,
        "valid_to": end,
    }
    failing, slip = [], None
    if variant == "expired":
        failing.append("id_card.not_expired")
    if variant == "term_wrong_for_age":
        failing.append("id_card.validity_term")
    if variant == "bad_check_digit":
        wrongs = [c for c in "0123456789X" if c != number[17]]
        d["id_number"] = number[:17] + wrongs[counter.next("gb11643") % len(wrongs)]
        slip = slip_explains(d["id_number"], gb11643_valid)
        failing.append("gb11643.check_character")
    if variant == "sex_mismatch":
        d["sex"] = "女" if sex == "男" else "男"
        failing.append("id_card.sex_matches_number")
    if variant == "birth_mismatch":
        # A printed date off by days, keeping the legal term at issue (only this rule fails).
        for _ in range(100):
            printed = birth + dt.timedelta(days=rng.choice([-1, 1]) * rng.randint(1, 60))
            if printed < issued and legal_term(age_at(printed, issued)) == term and printed <= today:
                d["birth"] = printed
                break
        failing.append("id_card.birth_date_matches_number")
    return {"data": d, "failing": failing, "slip": slip}


def credit_code(rng: random.Random, kind: str) -> str:
    body = "".join(rng.choice("0123456789" if rng.random() < 0.7 else GB32100_ALPHABET) for _ in range(8))
    first17 = f"9{kind}{rng.choice(REGIONS)}{body}{gb11714_check(body)}"
    return first17 + gb32100_check(first17)


def licence_data(rng: random.Random, today: dt.date, variant: str, individual: bool, counter: Counter) -> dict:
    if variant in ("term_ended", "type_mismatch"):
        individual = False
    word = rng.choice(SHOP_WORDS)
    trade, scope = rng.choice(TRADES)
    established = rand_date(rng, add_years(today, -25), today - dt.timedelta(days=60))
    failing, slip = [], None
    district = rng.choice(DISTRICTS)
    if individual:
        name = f"示例市{district}{word}{trade}店"
        kind = "个体工商户"
        code = credit_code(rng, "2")
        term = None
        capital = None
    else:
        name = f"示例市{word}{trade}有限公司"
        kind = rng.choice(COMPANY_TYPES)
        code = credit_code(rng, "1")
        capital = rng.choice(CAPITALS)
        if variant == "term_ended":
            start = rand_date(rng, add_years(today, -25), add_years(today, -11))
            established = start
            term = (start, add_years(start, 10) - dt.timedelta(days=1))
            failing.append("licence.term_not_ended")
        elif rng.random() < 0.5:
            term = (established, None)
        else:
            term = (established, add_years(established, 30) - dt.timedelta(days=1))
    if variant == "bad_check_digit":
        wrongs = [c for c in GB32100_ALPHABET if c != code[17]]
        code = code[:17] + wrongs[(counter.next("gb32100") * 7) % len(wrongs)]
        slip = slip_explains(code, gb32100_valid)
        failing.append("gb32100.check_character")
    if variant == "bad_organisation_check":
        # The organisation code's own check character wrong, the final one computed over it.
        wrongs = [c for c in "0123456789X" if c != code[16]]
        first17 = code[:16] + wrongs[counter.next("gb11714") % len(wrongs)]
        code = first17 + gb32100_check(first17)
        slip = slip_explains(code, gb32100_valid)
        failing.append("gb32100.organisation_check")
    if variant == "type_mismatch":
        # A company type with an individual business's code (92…), correctly checked.
        first17 = "92" + code[2:17]
        code = first17 + gb32100_check(first17)
        failing.append("licence.type_matches_code")
    issued = rand_date(rng, established, today - dt.timedelta(days=1))
    return {
        "data": {
            "credit_code": code,
            "name": name,
            "type": kind,
            "legal_representative": person_name(rng),
            "registered_capital": capital,
            "established": established,
            "term": term,
            "address": f"示例市{rng.choice(DISTRICTS)}{rng.choice(ROADS)}{rng.randint(1, 299)}号{rng.randint(1, 3)}层",
            "business_scope": scope + "。",
            "registration_authority": f"示例市{district}市场监督管理局" if individual else "示例市市场监督管理局",
            "issue_date": issued,
            "individual": individual,
            "composition": rng.choice(["个人经营", "个人经营", "家庭经营"]) if individual else None,
        },
        "failing": failing,
        "slip": slip,
    }


# --------------------------------------------------------------------------------------------
# Drawing: each document is drawn flat; every straight text item is recorded as an OCR line
# --------------------------------------------------------------------------------------------

INK = (22, 22, 22)
CARD_LABEL = (35, 95, 165)


class Doc:
    def __init__(self, w: int, h: int, bg: tuple):
        self.img = Image.new("RGB", (w, h), bg)
        self.draw = ImageDraw.Draw(self.img)
        self.lines: list[dict] = []
        # The holder's 仅供…使用 overprint, kept apart: on a photocopy it is written or stamped
        # either on the original before copying (then copied grey) or on the copy (in ink).
        self.ink: Image.Image | None = None
        self.inking = False
        # Where each field's value is printed: truth field name -> boxes (document pixels).
        self.values: dict[str, list[tuple]] = {}

    def text(self, xy, s: str, f, fill, record: bool = True, spacing: float = 0, as_text: str | None = None,
             fields: tuple = ()) -> tuple:
        """Draws `s` at xy (letter-spaced by `spacing`), returns its box; records it as a line
        (with `as_text` as what a reader returns, when the spacing makes it differ) and as
        (part of) the value of the truth `fields` it prints."""
        x, y = xy
        if spacing:
            x0 = x
            for ch in s:
                self.draw.text((x, y), ch, font=f, fill=fill)
                x += f.getlength(ch) + spacing
            box = (x0, y + f.getbbox(s)[1], x - spacing, y + f.getbbox(s)[3])
        else:
            self.draw.text((x, y), s, font=f, fill=fill)
            l, t, r, b = f.getbbox(s)
            box = (x + l, y + t, x + r, y + b)
        if record:
            self.record(as_text or s, box)
        self.value(fields, box)
        return box

    def value(self, fields: tuple, box: tuple):
        for name in fields:
            self.values.setdefault(name, []).append(box)

    def cut_off(self, x: float) -> list[str]:
        """The fields whose printed value a cut at document x (everything right of it gone)
        hides in whole or in part."""
        return sorted(name for name, boxes in self.values.items() if any(b[2] > x for b in boxes))

    def spread(self, xy, s: str, f, fill, width: float) -> tuple:
        """A label spread over `width`, as the templates print 名　　称 under 法定代表人."""
        if len(s) < 2:
            return self.text(xy, s, f, fill)
        gap = (width - sum(f.getlength(c) for c in s)) / (len(s) - 1)
        return self.text(xy, s, f, fill, spacing=max(0.0, gap), as_text=s)

    def record(self, s: str, box, pad: float = 4):
        x0, y0, x1, y1 = box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad
        self.lines.append({"text": s, "quad": [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]})

    def wrap(self, s: str, f, max_w: float) -> list[str]:
        out, cur = [], ""
        for ch in s:
            if f.getlength(cur + ch) > max_w and cur:
                out.append(cur)
                cur = ""
            cur += ch
        if cur:
            out.append(cur)
        return out

    def overlay(self, layer: Image.Image):
        if self.inking:
            base = self.ink or Image.new("RGBA", self.img.size, (0, 0, 0, 0))
            self.ink = Image.alpha_composite(base, layer)
            return
        self.img = Image.alpha_composite(self.img.convert("RGBA"), layer).convert("RGB")
        self.draw = ImageDraw.Draw(self.img)

    def page(self, ink: bool = True) -> Image.Image:
        """The document as printed, with the holder's overprint when `ink`."""
        if not ink or self.ink is None:
            return self.img
        return Image.alpha_composite(self.img.convert("RGBA"), self.ink).convert("RGB")

    def turned_text(self, centre, s: str, f, fill, angle: float, jitter: random.Random | None = None,
                    record: bool = True):
        """Text along a line turned by `angle` degrees (counter-clockwise) about `centre`; with
        `jitter`, each character wanders in size, angle and baseline as handwriting does."""
        w = sum(f.getlength(c) for c in s) + 40
        h = f.size * 2
        layer = Image.new("RGBA", (int(w), int(h)), (0, 0, 0, 0))
        d = ImageDraw.Draw(layer)
        x = 20.0
        for c in s:
            if jitter is None:
                d.text((x, h / 4), c, font=f, fill=fill)
                x += f.getlength(c)
            else:
                g = font("serif", max(8, int(f.size * jitter.uniform(0.85, 1.12))))
                ch = Image.new("RGBA", (g.size * 2, g.size * 2), (0, 0, 0, 0))
                ImageDraw.Draw(ch).text((g.size / 2, g.size / 2), c, font=g, fill=fill)
                ch = ch.rotate(jitter.uniform(-9, 9), resample=Image.Resampling.BICUBIC)
                layer.alpha_composite(ch, (int(x - g.size / 2), int(h / 4 - g.size / 2 + jitter.uniform(-3, 3))))
                x += g.getlength(c) * jitter.uniform(0.92, 1.08)
        rot = layer.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
        cx, cy = centre
        ox, oy = int(cx - rot.width / 2), int(cy - rot.height / 2)
        full = Image.new("RGBA", self.img.size, (0, 0, 0, 0))
        full.alpha_composite(rot, (max(0, ox), max(0, oy)), (max(0, -ox), max(0, -oy)))
        self.overlay(full)
        if record:
            # The text's own box (x 20..x, y h/4 .. h/4 + size) turned with the layer.
            a = math.radians(angle)
            pts = [(20, h / 4), (x, h / 4), (x, h / 4 + f.size * 1.2), (20, h / 4 + f.size * 1.2)]
            quad = []
            for px, py in pts:
                dx, dy = px - w / 2, py - h / 2
                quad.append([cx + dx * math.cos(a) + dy * math.sin(a), cy - dx * math.sin(a) + dy * math.cos(a)])
            self.lines.append({"text": s, "quad": quad})


def guilloche(doc: Doc, colours: list[tuple], rng: random.Random, step: int = 7):
    """Fine interlaced sine waves in pastel inks, the security background both layouts print."""
    w, h = doc.img.size
    for k, col in enumerate(colours):
        amp, period, phase = rng.uniform(8, 18), rng.uniform(90, 160), rng.uniform(0, 6.3)
        for y0 in range(-20 + k * 3, h + 20, step * len(colours)):
            pts = [(x, y0 + amp * math.sin(x / period * 6.283 + phase + y0 / 37)) for x in range(0, w + 8, 8)]
            doc.draw.line(pts, fill=col, width=1)


def emblem(doc: Doc, box: tuple):
    """The national emblem stand-in: red disc, gold star and ring (no text)."""
    x0, y0, x1, y1 = box
    dr = doc.draw
    dr.ellipse(box, fill=(196, 36, 36), outline=(218, 170, 60), width=max(2, (x1 - x0) // 16))
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2 - (y1 - y0) * 0.08, (x1 - x0) * 0.22
    pts = []
    for k in range(10):
        a, rr = math.radians(90 + 36 * k), r if k % 2 == 0 else 0.4 * r
        pts.append((cx + rr * math.cos(a), cy - rr * math.sin(a)))
    dr.polygon(pts, fill=(240, 200, 60))
    dr.rectangle([cx - r * 1.3, y1 - (y1 - y0) * 0.3, cx + r * 1.3, y1 - (y1 - y0) * 0.22], fill=(240, 200, 60))


def sample_mark(doc: Doc, xy, size: int):
    """样本: every specimen says it is one."""
    layer = Image.new("RGBA", doc.img.size, (0, 0, 0, 0))
    f = font("bold", size)
    ImageDraw.Draw(layer).text(xy, "样本", font=f, fill=(210, 30, 30, 150))
    doc.overlay(layer)
    l, t, r, b = f.getbbox("样本")
    doc.record("样本", (xy[0] + l, xy[1] + t, xy[0] + r, xy[1] + b))


def purpose_overprint(doc: Doc, style: str, rng: random.Random, centre, size: int):
    """仅供办理XX使用，他用无效 across the fields: a rubber stamp or handwriting."""
    s = f"仅供办理{rng.choice(PURPOSES)}使用，他用无效"
    angle = rng.uniform(-14, 14)
    doc.inking = True
    if style == "stamp":
        ink = rng.choice([(200, 30, 40, 170), (40, 60, 170, 170)])
        f = font("bold", size)
        doc.turned_text(centre, s, f, ink, angle)
        # The stamp's frame around the text.
        w = f.getlength(s) + 30
        h = size * 1.9
        a = math.radians(angle)
        corners = []
        for px, py in [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]:
            corners.append((centre[0] + px * math.cos(a) + py * math.sin(a), centre[1] - px * math.sin(a) + py * math.cos(a)))
        layer = Image.new("RGBA", doc.img.size, (0, 0, 0, 0))
        ImageDraw.Draw(layer).polygon(corners, outline=ink, width=4)
        doc.overlay(layer)
    else:
        ink = rng.choice([(25, 35, 120, 230), (30, 30, 30, 230)])
        doc.turned_text(centre, s, font("serif", size), ink, angle, jitter=rng)
    doc.inking = False


def seal(doc: Doc, centre, r: int, authority: str):
    """The round red seal of the registration authority: ring, star, the name along the top."""
    cx, cy = centre
    layer = Image.new("RGBA", doc.img.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    red = (222, 30, 36, 165)
    d.ellipse([cx - r, cy - r, cx + r, cy + r], outline=red, width=max(4, r // 18))
    pts = []
    for k in range(10):
        a, rr = math.radians(90 + 36 * k), 0.28 * r if k % 2 == 0 else 0.11 * r
        pts.append((cx + rr * math.cos(a), cy - rr * math.sin(a)))
    d.polygon(pts, fill=red)
    f = font("bold", max(10, int(r * 0.24)))
    n = len(authority)
    span = min(250.0, 16.0 * n)
    for i, c in enumerate(authority):
        ang = math.radians(90 + span / 2 - span * i / max(1, n - 1))
        ch = Image.new("RGBA", (f.size * 2, f.size * 2), (0, 0, 0, 0))
        ImageDraw.Draw(ch).text((f.size / 2, f.size / 2), c, font=f, fill=red)
        ch = ch.rotate(math.degrees(ang) - 90, resample=Image.Resampling.BICUBIC)
        px, py = cx + 0.74 * r * math.cos(ang), cy - 0.74 * r * math.sin(ang)
        layer.alpha_composite(ch, (int(px - f.size), int(py - f.size)))
    doc.overlay(layer)


def qr(doc: Doc, x: int, y: int, cell: int, rng: random.Random):
    """A QR-like code: three finder squares and random modules."""
    n = 25
    dr = doc.draw
    dr.rectangle([x - cell, y - cell, x + (n + 1) * cell, y + (n + 1) * cell], fill=(255, 255, 255))
    for i in range(n):
        for j in range(n):
            finder = (i < 7 and j < 7) or (i >= n - 7 and j < 7) or (i < 7 and j >= n - 7)
            if finder:
                a, b = i % (n - 7) if i >= n - 7 else i, j % (n - 7) if j >= n - 7 else j
                on = a in (0, 6) or b in (0, 6) or (2 <= a <= 4 and 2 <= b <= 4)
            else:
                on = rng.random() < 0.5
            if on:
                dr.rectangle([x + i * cell, y + j * cell, x + (i + 1) * cell - 1, y + (j + 1) * cell - 1], fill=(15, 15, 15))


def ornament_border(doc: Doc, inset: int, band: int, rng: random.Random):
    """The licence's decorative frame: a band of interlaced loops between two rules."""
    w, h = doc.img.size
    dr = doc.draw
    gold, dark = (196, 150, 78), (160, 112, 50)
    dr.rectangle([inset, inset, w - inset, h - inset], outline=dark, width=3)
    dr.rectangle([inset + band, inset + band, w - inset - band, h - inset - band], outline=dark, width=2)
    m = inset + band / 2
    step = band * 0.9
    for x in range(int(inset + band), int(w - inset - band), int(step)):
        for y in (m, h - m):
            dr.ellipse([x - band * 0.38, y - band * 0.3, x + band * 0.38, y + band * 0.3], outline=gold, width=2)
    for y in range(int(inset + band), int(h - inset - band), int(step)):
        for x in (m, w - m):
            dr.ellipse([x - band * 0.3, y - band * 0.38, x + band * 0.3, y + band * 0.38], outline=gold, width=2)
    for cx, cy in [(m, m), (w - m, m), (m, h - m), (w - m, h - m)]:
        dr.rectangle([cx - band * 0.45, cy - band * 0.45, cx + band * 0.45, cy + band * 0.45], fill=gold)


# ---- identity card (GA 450) -----------------------------------------------------------------


def draw_front(d: dict, rng: random.Random, overprint: str) -> Doc:
    doc = Doc(856, 540, (232, 238, 242))
    guilloche(doc, [(214, 226, 240), (238, 220, 226), (222, 236, 222)], rng)
    lab, val = font("bold", 24), font("regular", 30)
    doc.spread((72, 62), "姓名", lab, CARD_LABEL, 52)
    doc.text((170, 56), d["name"], val, INK, fields=("name",))
    doc.spread((72, 128), "性别", lab, CARD_LABEL, 52)
    doc.text((170, 122), d["sex"], val, INK, fields=("sex",))
    doc.spread((260, 128), "民族", lab, CARD_LABEL, 52)
    doc.text((350, 122), d["ethnicity"], val, INK, fields=("ethnicity",))
    doc.spread((72, 194), "出生", lab, CARD_LABEL, 52)
    b = d["birth"]
    x, boxes = 170, []
    for part, f, c in [(str(b.year), val, INK), ("年", lab, CARD_LABEL), (str(b.month), val, INK),
                       ("月", lab, CARD_LABEL), (str(b.day), val, INK), ("日", lab, CARD_LABEL)]:
        boxes.append(doc.text((x, 188 + (6 if f is lab else 0)), part, f, c, record=False))
        x = boxes[-1][2] + 14
    birth_box = (boxes[0][0], min(bb[1] for bb in boxes), boxes[-1][2], max(bb[3] for bb in boxes))
    doc.record(f"{b.year}年{b.month}月{b.day}日", birth_box)
    doc.value(("birth_date",), birth_box)
    doc.spread((72, 260), "住址", lab, CARD_LABEL, 52)
    for i, part in enumerate(doc.wrap(d["address"], val, 350)[:3]):
        doc.text((170, 254 + 44 * i), part, val, INK, fields=("address",))
    doc.text((72, 452), "公民身份号码", lab, CARD_LABEL)
    doc.text((290, 444), d["id_number"], font("ocrb", 34), INK, spacing=3, fields=("id_number",))
    # Photo area: a grey portrait silhouette on a pale ground.
    dr = doc.draw
    dr.rectangle([560, 60, 820, 380], fill=(214, 220, 226))
    dr.ellipse([630, 100, 750, 240], fill=(148, 152, 158))
    dr.pieslice([580, 230, 800, 470], 180, 360, fill=(148, 152, 158))
    sample_mark(doc, (rng.randint(330, 420), rng.randint(270, 320)), 74)
    if overprint != "sample":
        purpose_overprint(doc, overprint.split("+")[1], rng, (430, 280), 34)
    return doc


def draw_back(d: dict, rng: random.Random, overprint: str) -> Doc:
    doc = Doc(856, 540, (236, 238, 228))
    guilloche(doc, [(226, 232, 214), (240, 226, 214), (218, 230, 236)], rng)
    # The Great Wall stand-in: a faint crenellated band.
    dr = doc.draw
    for x in range(120, 800, 24):
        dr.rectangle([x, 240 + 10 * math.sin(x / 80), x + 14, 262 + 10 * math.sin(x / 80)], fill=(220, 214, 200))
    emblem(doc, (70, 44, 200, 174))
    doc.text((250, 60), "中华人民共和国", font("bold", 40), INK, spacing=10)
    doc.text((262, 130), "居民身份证", font("serif_bold", 58), INK, spacing=18)
    lab, val = font("bold", 24), font("regular", 28)
    doc.text((140, 392), "签发机关", lab, INK)
    doc.text((290, 388), d["issuing_authority"], val, INK, fields=("issuing_authority",))
    doc.text((140, 452), "有效期限", lab, INK)
    to = "长期" if d["valid_to"] is None else f"{d['valid_to']:%Y.%m.%d}"
    doc.text((290, 448), f"{d['valid_from']:%Y.%m.%d}-{to}", val, INK, fields=("valid_from", "valid_to"))
    sample_mark(doc, (rng.randint(600, 680), rng.randint(300, 360)), 74)
    if overprint != "sample":
        purpose_overprint(doc, overprint.split("+")[1], rng, (470, 330), 34)
    return doc


# ---- business licence (2019 template) -------------------------------------------------------


def cn_date(x: dt.date) -> str:
    return f"{x.year}年{x.month:02d}月{x.day:02d}日"


QR_CAPTION = "扫描二维码登录“国家企业信用信息公示系统”了解更多登记、备案、许可、监管信息"
FOOTER = ["国家企业信用信息公示系统网址：http://www.gsxt.gov.cn",
          "市场主体应当于每年1月1日至6月30日通过国家企业信用信息公示系统报送公示年度报告",
          "国家市场监督管理总局监制"]


# The truth field each row's label names (组成形式 is kept under `other_printed`).
LICENCE_FIELDS = {"名称": "name", "类型": "type", "经营者": "legal_representative",
                  "法定代表人": "legal_representative", "经营范围": "business_scope",
                  "组成形式": "composition_form", "注册日期": "established_date",
                  "成立日期": "established_date", "经营场所": "address", "住所": "address",
                  "注册资本": "registered_capital", "营业期限": "business_term"}


def licence_rows(d: dict) -> tuple[list, list]:
    """The template's rows: (label, value) in the left and the right column."""
    if d["individual"]:
        left = [("名称", d["name"]), ("类型", d["type"]), ("经营者", d["legal_representative"]),
                ("经营范围", d["business_scope"])]
        right = [("组成形式", d["composition"]), ("注册日期", cn_date(d["established"])),
                 ("经营场所", d["address"])]
    else:
        start, end = d["term"]
        left = [("名称", d["name"]), ("类型", d["type"]), ("法定代表人", d["legal_representative"]),
                ("经营范围", d["business_scope"])]
        right = [("注册资本", d["registered_capital"]), ("成立日期", cn_date(d["established"])),
                 ("营业期限", f"{cn_date(start)}至{'长期' if end is None else cn_date(end)}"),
                 ("住所", d["address"])]
    return left, right


def draw_licence(d: dict, rng: random.Random, portrait: bool, overprint: str) -> Doc:
    w, h = (990, 1400) if portrait else (1400, 990)
    doc = Doc(w, h, (250, 247, 238))
    guilloche(doc, [(242, 236, 222), (236, 240, 230)], rng, step=9)
    ornament_border(doc, 22, 34, rng)
    lab, val = font("bold", 24), font("serif", 25)
    small = font("regular", 15)
    label_w = 5 * 24  # labels spread to the width of 法定代表人
    # Header: code at the top left, emblem and title in the middle, QR code at the top right.
    doc.text((96, 100), "统一社会信用代码", font("regular", 22), INK)
    doc.text((96, 132), d["credit_code"], font("regular", 28), INK, fields=("credit_code",))
    emblem(doc, (w // 2 - 50, 78, w // 2 + 50, 178))
    tf = font("serif_bold", 78)
    title_w = sum(tf.getlength(c) for c in "营业执照") + 3 * 30
    doc.text((w / 2 - title_w / 2, 188), "营业执照", tf, INK, spacing=30)
    doc.text((w / 2 - 48, 290), "（副本）", font("regular", 26), INK)
    qx = w - 96 - 150
    qr(doc, qx, 92, 6, rng)
    for i, part in enumerate(doc.wrap(QR_CAPTION, small, 170)):
        doc.text((qx - 12, 258 + 20 * i), part, small, INK)
    # Body.
    left, right = licence_rows(d)

    def column(rows, x, y, width):
        for label, value in rows:
            doc.spread((x, y + 2), label, lab, INK, label_w)
            parts = doc.wrap(value, val, width)
            for i, p in enumerate(parts):
                doc.text((x + label_w + 36, y + 38 * i), p, val, INK, fields=(LICENCE_FIELDS[label],))
            y += 38 * max(1, len(parts)) + 22
        return y

    if portrait:
        column(left[:3] + right + left[3:], 110, 400, w - 110 - label_w - 36 - 110)
        auth_y = h - 330
        auth_x = w - 560
    else:
        column(left, 110, 380, 420)
        column(right, 760, 380, 400)
        auth_y = h - 250
        auth_x = 760
    # Registration authority, the date under it, the seal over both.
    # The 2019 template prints the authority's name only in the seal.
    doc.text((auth_x, auth_y), "登记机关", font("bold", 26), INK)
    doc.text((auth_x + 140, auth_y + 70), cn_date(d["issue_date"]), font("serif", 26), INK, fields=("issue_date",))
    seal(doc, (auth_x + 250 + rng.randint(-20, 20), auth_y + 48 + rng.randint(-10, 10)), 92,
         d["registration_authority"])
    # Footer.
    fy = h - 22 - 34 - 70
    doc.text((96, fy), FOOTER[0], small, INK)
    doc.text((96, fy + 24), FOOTER[1], small, INK)
    mw = small.getlength(FOOTER[2])
    doc.text((w - 96 - mw, fy + 24), FOOTER[2], small, INK)
    sample_mark(doc, (w // 2 - 90 + rng.randint(-60, 60), h // 2 + rng.randint(-40, 60)), 110)
    if overprint != "sample":
        purpose_overprint(doc, overprint.split("+")[1], rng, (w // 2, int(h * 0.55)), 44)
    return doc


# --------------------------------------------------------------------------------------------
# Photographing: place the flat document in a scene, then degrade
# --------------------------------------------------------------------------------------------


def solve(a: list[list[float]], b: list[float]) -> list[float]:
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[p] = m[p], m[c]
        for r in range(n):
            if r != c:
                f = m[r][c] / m[c][c]
                m[r] = [x - f * y for x, y in zip(m[r], m[c])]
    return [m[i][n] / m[i][i] for i in range(n)]


def homography(src, dst) -> list[float]:
    """Coefficients (a..h) mapping src points to dst: x' = (ax+by+c)/(gx+hy+1), …"""
    a, b = [], []
    for (x, y), (u, v) in zip(src, dst):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        b.append(u)
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b.append(v)
    return solve(a, b)


def apply(h, x, y):
    w = h[6] * x + h[7] * y + 1
    return [(h[0] * x + h[1] * y + h[2]) / w, (h[3] * x + h[4] * y + h[5]) / w]




def turned(points: list, degrees: float, centre: tuple) -> list:
    """`points` turned by `degrees` about `centre` (a camera held a little askew)."""
    a = math.radians(degrees)
    cx, cy = centre
    return [(cx + (x - cx) * math.cos(a) - (y - cy) * math.sin(a),
             cy + (x - cx) * math.sin(a) + (y - cy) * math.cos(a)) for x, y in points]


def background(size: tuple, rng: random.Random, kind: str) -> Image.Image:
    """What the document lies on: a scanner's lid, a wooden desk, a cloth, a counter."""
    w, h = size
    if kind == "scanner":
        base = Image.new("RGB", size, (238, 238, 235))
        return Image.blend(base, Image.effect_noise(size, 6).convert("RGB"), 0.05)
    if kind == "wood":
        img = Image.new("RGB", size)
        d = ImageDraw.Draw(img)
        c0 = (rng.randint(120, 160), rng.randint(80, 105), rng.randint(45, 65))
        phase = rng.uniform(0, 6)
        for y in range(h):
            t = 0.5 + 0.5 * math.sin(y / rng.uniform(6, 9) + 3 * math.sin(y / 140 + phase))
            d.line([(0, y), (w, y)], fill=tuple(int(c * (0.82 + 0.22 * t)) for c in c0))
        img = img.rotate(rng.uniform(-20, 20), resample=Image.Resampling.BILINEAR, expand=False, fillcolor=c0)
        return Image.blend(img, Image.effect_noise(size, 30).convert("RGB"), 0.08)
    if kind == "cloth":
        c0 = rng.choice([(60, 80, 120), (70, 110, 80), (130, 60, 60), (90, 90, 95)])
        img = Image.new("RGB", size, c0)
        d = ImageDraw.Draw(img)
        for x in range(0, w, 5):
            d.line([(x, 0), (x, h)], fill=tuple(max(0, c - 14) for c in c0))
        return Image.blend(img, Image.effect_noise(size, 40).convert("RGB"), 0.1)
    base = Image.new("RGB", size, (96, 84, 72))
    return Image.blend(base, Image.effect_noise(size, 18).convert("RGB"), 0.15)


def toner(img: Image.Image, rng: random.Random) -> Image.Image:
    """A black-and-white photocopy: grey, hard contrast (colours drop to paper or toner),
    toner speckle, a little softness."""
    g = ImageOps.grayscale(img)
    lo, hi = rng.randint(70, 110), rng.randint(200, 225)
    g = g.point(lambda v: 0 if v < lo else 255 if v > hi else int(255 * (v - lo) / (hi - lo)))
    paper = rng.randint(228, 246)
    g = g.point(lambda v: int(18 + (paper - 18) * v / 255))
    speck = Image.effect_noise(g.size, 60).point(lambda v: 0 if v < 30 else 255)
    g = ImageChops.darker(g, speck.point(lambda v: 255 if v else 60))
    g = g.filter(ImageFilter.GaussianBlur(0.6))
    return g.convert("RGB")


def subpixel_tile(rng: random.Random) -> Image.Image:
    """One screen pixel as a camera close up sees it, 3 × 3 samples: an LCD's red, green and
    blue stripes (in either order) above the black matrix between rows; or an OLED's
    diamond-like layout, green on every pixel, red and blue alternating (a 6 × 3 pair)."""
    if rng.random() < 0.65:
        order = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
        if rng.random() < 0.3:
            order.reverse()
        tile = Image.new("RGB", (3, 3))
        for x, c in enumerate(order):
            for y in range(3):
                k = 0.35 if y == 2 else 1.0
                tile.putpixel((x, y), tuple(int(v * k) for v in c))
        return tile
    tile = Image.new("RGB", (6, 3), (0, 0, 0))
    for x, y, c in [(0, 0, (255, 0, 0)), (1, 1, (0, 255, 0)), (2, 0, (0, 0, 255)), (3, 2, (0, 0, 255)),
                    (4, 1, (0, 255, 0)), (5, 2, (255, 0, 0)), (1, 2, (0, 200, 0)), (4, 0, (0, 200, 0))]:
        tile.putpixel((x, y), c)
    return tile


def screen_photo(doc: Doc, rng: random.Random) -> tuple[Image.Image, list[dict], int]:
    """翻拍: the document shown in an image viewer on a monitor or a phone, photographed.

    What a camera sees of a screen: the viewer scales the page to the screen's pixels (its
    window around it); each screen pixel is lit subpixels with dark gaps between, a pattern
    the camera samples at its own pitch (1.4–2.8 camera pixels a screen pixel here: a close
    shot) so that it shows as a fine grid or beats into moiré; the lens softens it a little;
    the display's white is its own colour (cool or warm) and its black is grey; a room light
    leaves a bright band across the glass; a rolling shutter under a dimmed backlight leaves
    faint horizontal bands; the bezel frames it all on a desk."""
    page = doc.page()
    w, h = page.size
    zoom = rng.uniform(0.5, 0.8)  # screen pixels per document pixel
    dw, dh = int(w * zoom), int(h * zoom)
    pad = int(rng.uniform(0.03, 0.1) * dw)
    window = rng.choice([(235, 235, 235), (38, 38, 40), (84, 86, 90)])
    screen = Image.new("RGB", (dw + 2 * pad, dh + 2 * pad), window)
    screen.paste(page.resize((dw, dh), Image.Resampling.LANCZOS), (pad, pad))
    # Display response: lifted black, own white point.
    black = rng.randint(12, 30)
    white = [rng.uniform(0.9, 1.0) for _ in range(3)]
    if rng.random() < 0.5:
        white[2] = 1.0  # cool (a monitor's 6500 K+ against a warm room)
    else:
        white[0] = 1.0  # warm (night mode)
    screen = Image.merge("RGB", [c.point(lambda v, k=k: int(black + (255 * k - black) * v / 255))
                                 for c, k in zip(screen.split(), white)])
    tile = subpixel_tile(rng)
    tw, th = tile.size
    sx, sy = screen.size
    grid_w, grid_h = sx * 3, sy * 3
    hi = screen.resize((grid_w, grid_h), Image.Resampling.NEAREST)
    strip = Image.new("RGB", (grid_w + tw, th))
    for x in range(0, grid_w + tw, tw):
        strip.paste(tile, (x, 0))
    mask = Image.new("RGB", (grid_w, grid_h))
    for y in range(0, grid_h, th):
        mask.paste(strip, (0, y))
    hi = ImageChops.multiply(hi, mask)
    # The bezel around the lit area.
    bz = int(rng.uniform(0.02, 0.05) * grid_w)
    shell = (rng.randint(12, 30),) * 3
    panel = Image.new("RGB", (grid_w + 2 * bz, grid_h + 2 * bz), shell)
    panel.paste(hi, (bz, bz))
    pw, ph = panel.size
    # The camera: screen pitch in camera pixels, a little perspective and turn.
    pitch = rng.uniform(1.4, 2.8)
    scale = pitch / 3  # camera pixels per grid sample
    cw, ch = pw * scale, ph * scale
    margin = int(0.08 * cw)
    sw, sh = int(cw + 2 * margin), int(ch + 2 * margin)
    scene = background((sw, sh), rng, "desk")
    j = 0.03
    corners = [(margin + rng.uniform(0, j) * cw, margin + rng.uniform(0, j) * ch),
               (margin + cw - rng.uniform(0, j) * cw, margin + rng.uniform(0, j) * ch),
               (margin + cw - rng.uniform(0, j) * cw, margin + ch - rng.uniform(0, j) * ch),
               (margin + rng.uniform(0, j) * cw, margin + ch - rng.uniform(0, j) * ch)]
    corners = turned(corners, rng.uniform(-4, 4), (sw / 2, sh / 2))
    src = [(0, 0), (pw, 0), (pw, ph), (0, ph)]
    fwd = homography(src, corners)
    inv = homography(corners, src)
    # The lens: a blur of 0.3–0.7 camera pixels, applied on the grid before sampling.
    panel = panel.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.7) / scale))
    warped = panel.transform((sw, sh), Image.Transform.PERSPECTIVE, inv, Image.Resampling.BILINEAR)
    wmask = Image.new("L", (pw, ph), 255).transform((sw, sh), Image.Transform.PERSPECTIVE, inv,
                                                     Image.Resampling.BILINEAR)
    # Exposure for the lit screen: the subpixels cover about a third of each pixel.
    gain = rng.uniform(2.7, 3.2)
    warped = warped.point(lambda v: min(255, int(v * gain)))
    scene.paste(warped, (0, 0), wmask)
    # A room light reflected on the glass: a soft bright band.
    band = Image.new("L", (sw, sh), 0)
    bx = rng.uniform(0.1, 0.9) * sw
    bw = rng.uniform(0.08, 0.2) * sw
    ImageDraw.Draw(band).polygon([(bx, 0), (bx + bw, 0), (bx + bw - 0.4 * sw, sh), (bx - 0.4 * sw, sh)],
                                 fill=int(rng.uniform(25, 60)))
    band = ImageChops.multiply(band.filter(ImageFilter.GaussianBlur(0.05 * sw)), wmask)
    scene = Image.composite(Image.new("RGB", (sw, sh), (255, 255, 255)), scene, band)
    if rng.random() < 0.5:
        # Rolling shutter under a pulsed backlight: faint horizontal bands.
        period, depth = rng.uniform(40, 140), rng.uniform(0.03, 0.08)
        rows = Image.new("L", (1, sh))
        for y in range(sh):
            rows.putpixel((0, y), int(255 * (1 - depth * (0.5 + 0.5 * math.sin(y / period * 6.283)))))
        scene = ImageChops.multiply(scene, rows.resize((sw, sh)).convert("RGB"))
    scene = Image.blend(scene, Image.effect_noise((sw, sh), 40).convert("RGB"), 0.04)
    k = 3 * zoom
    lines = []
    for l in doc.lines:
        quad = [apply(fwd, bz + 3 * pad + x * k, bz + 3 * pad + y * k) for x, y in l["quad"]]
        lines.append({"text": l["text"], "quad": [[round(x, 1), round(y, 1)] for x, y in quad]})
    return scene, lines, 0


def photograph(doc: Doc, condition: str, rng: random.Random, focus: tuple,
               crop: tuple) -> tuple[Image.Image, list[dict], int, list[str]]:
    """Places the document in a scene under `condition`; `focus` is where glare falls and
    `crop` the range of the document's width where a crop cuts it (document coordinates).
    Returns the image, the lines in the upright image's pixels, the clockwise turn, and the
    fields a crop cut off in whole or in part (`Doc.cut_off`)."""
    if condition == "recapture":
        return (*screen_photo(doc, rng), [])
    copy = condition.startswith("photocopy")
    photo_of_copy = copy and rng.random() < 0.5
    if condition == "photocopy_dark":
        photo_of_copy = True  # dim room light: a scanner lights its own page
    if copy:
        # The holder's overprint, written or stamped on the original before copying (copied
        # grey with it) or on the copy afterwards (in its own ink).
        on_copy = doc.ink is not None and rng.random() < 0.5
        page = toner(doc.page(ink=not on_copy), rng)
        if on_copy:
            page = Image.alpha_composite(page.convert("RGBA"), doc.ink).convert("RGB")
    else:
        page = doc.page()
    w, h = page.size
    margin = int(0.08 * w)
    sw, sh = w + 2 * margin, h + 2 * margin
    if condition in ("clean", "rotate90", "rotate180", "rotate270") or (copy and not photo_of_copy):
        scene = background((sw, sh), rng, "scanner")
    elif condition == "phone" or photo_of_copy:
        scene = background((sw, sh), rng, rng.choice(["wood", "cloth"]))
    else:
        scene = background((sw, sh), rng, "desk")
    x0, y0 = margin + rng.randint(-10, 10), margin + rng.randint(-10, 10)
    corners = [(x0, y0), (x0 + w, y0), (x0 + w, y0 + h), (x0, y0 + h)]
    j = {"perspective": 0.07, "phone": 0.035}.get(condition, 0.03 if photo_of_copy else 0.0)
    if j:
        corners = [
            (corners[0][0] + rng.uniform(0, j) * w, corners[0][1] + rng.uniform(0, j) * h),
            (corners[1][0] - rng.uniform(0, j) * w, corners[1][1] + rng.uniform(0, j) * h),
            (corners[2][0] - rng.uniform(0, j) * w, corners[2][1] - rng.uniform(0, j) * h),
            (corners[3][0] + rng.uniform(0, j) * w, corners[3][1] - rng.uniform(0, j) * h),
        ]
    if condition == "phone" or photo_of_copy:
        # Held a little askew: turn the corners about the centre by a few degrees.
        corners = turned(corners, rng.uniform(-6, 6), (sw / 2, sh / 2))
    src = [(0, 0), (w, 0), (w, h), (0, h)]
    fwd = homography(src, corners)
    inv = homography(corners, src)
    mask = Image.new("L", (w, h), 255)
    warped = page.transform((sw, sh), Image.Transform.PERSPECTIVE, inv, Image.Resampling.BICUBIC)
    wmask = mask.transform((sw, sh), Image.Transform.PERSPECTIVE, inv, Image.Resampling.BILINEAR)
    if condition == "phone" or photo_of_copy:
        # A soft shadow under the document.
        shadow = wmask.filter(ImageFilter.GaussianBlur(14)).point(lambda v: int(v * 0.5))
        scene.paste((0, 0, 0), (8, 10), shadow.crop((0, 0, sw - 8, sh - 10)))
    scene.paste(warped, (0, 0), wmask)
    lines = [{"text": l["text"], "quad": [apply(fwd, x, y) for x, y in l["quad"]]} for l in doc.lines]

    if condition == "phone" or photo_of_copy:
        # Room light: a warm or cool cast, falling off towards the corners, sensor noise.
        cast = rng.choice([(1.06, 1.0, 0.9), (0.95, 1.0, 1.07), (1.03, 1.02, 0.96)])
        r, g, b = scene.split()
        scene = Image.merge("RGB", [c.point(lambda v, k=k: min(255, int(v * k))) for c, k in zip((r, g, b), cast)])
        vign = Image.radial_gradient("L").resize((sw, sh)).point(lambda v: 255 - int(v * 0.35))
        scene = Image.composite(scene, Image.new("RGB", (sw, sh), (0, 0, 0)), vign)
        scene = Image.blend(scene, Image.effect_noise((sw, sh), 40).convert("RGB"), 0.04)
        scene = scene.filter(ImageFilter.GaussianBlur(0.5))
    elif condition == "blur":
        scene = scene.filter(ImageFilter.GaussianBlur(rng.uniform(1.5, 3.0)))
    elif condition == "glare":
        fx, fy = apply(fwd, *focus)
        rx, ry = 0.22 * w, 0.12 * h
        m = Image.new("L", (sw, sh), 0)
        ImageDraw.Draw(m).ellipse([fx - rx, fy - ry, fx + rx, fy + ry], fill=255)
        m = m.filter(ImageFilter.GaussianBlur(25))
        scene = Image.composite(Image.new("RGB", (sw, sh), (255, 255, 255)), scene, m)
        ImageDraw.Draw(scene).ellipse([fx - 0.7 * rx, fy - 0.6 * ry, fx + 0.7 * rx, fy + 0.6 * ry], fill=(255, 255, 255))
    hidden = []
    if condition == "crop":
        cut_x = int(corners[0][0] + rng.uniform(*crop) * w)
        scene = scene.crop((0, 0, cut_x, sh))
        # The page lies square and unscaled in the scene (no perspective under "crop").
        hidden = doc.cut_off(cut_x - corners[0][0])
        kept = []
        for l in lines:
            xs = [p[0] for p in l["quad"]]
            if max(xs) > cut_x:
                # A line the border cuts: a reader sees its visible characters only.
                n = int(len(l["text"]) * (cut_x - min(xs)) / (max(xs) - min(xs)))
                if n <= 0:
                    continue
                l = {"text": l["text"][:n], "quad": [[min(p[0], cut_x - 1.0), p[1]] for p in l["quad"]]}
            kept.append(l)
        lines = kept
    if condition in ("dark", "photocopy_dark"):
        scene = ImageEnhance.Brightness(scene).enhance(rng.uniform(0.22, 0.3))
    elif condition in ("overexposed", "photocopy_overexposed"):
        lut = [min(255, int(v * 1.5 + 70)) for v in range(256)] * 3
        scene = scene.point(lut)
    elif condition == "low_resolution":
        f = rng.uniform(0.25, 0.32)
        scene = scene.resize((int(sw * f), int(sh * f)), Image.Resampling.LANCZOS)
        lines = [{"text": l["text"], "quad": [[x * f, y * f] for x, y in l["quad"]]} for l in lines]
    for l in lines:
        l["quad"] = [[round(x, 1), round(y, 1)] for x, y in l["quad"]]
    turn = {"rotate90": 90, "rotate180": 180, "rotate270": 270}.get(condition, 0)
    if turn:
        # Fed into the scanner sideways or upside down: the stored image is turned clockwise.
        scene = scene.rotate(-turn, expand=True)
    return scene, lines, turn, hidden


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------


def ymd(x: dt.date | None) -> str | None:
    return None if x is None else f"{x:%Y-%m-%d}"


def verdict(failing: list, slip: bool | None, warnings: list, back_only: bool = False) -> str:
    """fail when a rule is broken beyond doubt; review when a person must look (a wrong check
    character one look-alike slip from valid, an image warning, a back without its front)."""
    if failing and not slip:
        return "fail"
    return "review" if failing or warnings or back_only else "pass"


def not_visible(fields: dict, hidden: list[str]) -> dict:
    """Moves the fields a crop cut off (in whole or in part) out of `fields`: no reader can
    give their value, so the truth lists them under `not_visible` instead."""
    gone = sorted({name for name in hidden if name in fields})
    for name in gone:
        del fields[name]
    return {"not_visible": gone} if gone else {}


def image_entry(name: str, kind: str, scene: Image.Image, lines: list, turn: int) -> dict:
    # Width and height of the image turned upright (the frame of `lines`).
    w, h = (scene.height, scene.width) if turn in (90, 270) else (scene.width, scene.height)
    e = {"file": name, "document_type": kind, "width": w, "height": h, "lines": lines}
    if turn:
        e["rotation"] = turn
    return e


def make(out: Path, count: int, seed: int, today: dt.date, conditions: list[str] | None = None) -> dict:
    conditions = conditions or CONDITIONS
    out.mkdir(parents=True, exist_ok=True)
    cases = []
    counter = Counter()
    for i in range(count):
        condition = conditions[i % len(conditions)]
        overprint = overprint_of(seed, condition, i // len(conditions))
        warnings = EXPECTED_WARNING.get(condition, [])
        # A crop may hide the field an invalid variant rests on: crops are valid documents.
        invalid = i % 3 == 2 and condition != "crop"

        # Identity card: front and back, or (every seventh case) a back uploaded alone.
        rng = random.Random(f"{seed}-id-{i}")
        variant = ID_INVALID[(i // 3) % len(ID_INVALID)] if invalid else "valid"
        back_only = i % 7 == 5 and variant in ("valid", "expired")
        c = id_card_data(rng, today, variant, counter)
        d = c["data"]
        images, hidden = [], []
        sides = [("back", draw_back(d, rng, overprint), (420, 420))]
        if not back_only:
            sides.insert(0, ("front", draw_front(d, rng, overprint), (300, 200)))
        for side, doc, focus in sides:
            scene, lines, turn, cut = photograph(doc, condition, rng, focus, (0.68, 0.72))
            hidden += cut
            name = f"idcard-{i:04d}-{side}.png"
            scene.save(out / name)
            images.append(image_entry(name, f"id_card_{side}", scene, lines, turn))
        fields = {"issuing_authority": d["issuing_authority"], "valid_from": ymd(d["valid_from"]),
                  "valid_to": ymd(d["valid_to"]) or "长期"}
        if not back_only:
            fields.update({"name": d["name"], "sex": d["sex"], "ethnicity": d["ethnicity"],
                           "birth_date": ymd(d["birth"]), "address": d["address"], "id_number": d["id_number"]})
        case = {"id": f"idcard-{i:04d}", "kind": "id_card",
                "document_type": "id_card_back" if back_only else "id_card_front",
                "layout": "id_card_back_only" if back_only else "id_card",
                "condition": condition, "variant": variant, "overprint": overprint, "images": images,
                "fields": fields, "failing_checks": c["failing"],
                "warnings": warnings + (["front_missing"] if back_only else []),
                **not_visible(fields, hidden),
                "verdict": verdict(c["failing"], c["slip"], warnings, back_only)}
        if c["slip"] is not None:
            case["lookalike_slip"] = c["slip"]
        cases.append(case)

        # Business licence.
        rng = random.Random(f"{seed}-licence-{i}")
        layout = LICENCE_LAYOUTS[i % len(LICENCE_LAYOUTS)]
        variant = LICENCE_INVALID[(i // 3) % len(LICENCE_INVALID)] if invalid else "valid"
        c = licence_data(rng, today, variant, layout.endswith("individual"), counter)
        d = c["data"]
        if not d["individual"]:
            layout = layout.replace("individual", "company")
        portrait = layout.startswith("portrait")
        focus = (400, 560) if portrait else (400, 420)
        scene, lines, turn, hidden = photograph(draw_licence(d, rng, portrait, overprint), condition, rng,
                                                focus, (0.84, 0.88))
        name = f"licence-{i:04d}.png"
        scene.save(out / name)
        fields = {
            "credit_code": d["credit_code"], "name": d["name"], "type": d["type"],
            "legal_representative": d["legal_representative"], "established_date": ymd(d["established"]),
            "address": d["address"], "business_scope": d["business_scope"], "issue_date": ymd(d["issue_date"]),
        }
        if d["registered_capital"]:
            fields["registered_capital"] = d["registered_capital"]
        if d["term"]:
            start, end = d["term"]
            fields["business_term"] = f"{ymd(start)}至{'长期' if end is None else ymd(end)}"
        other = {"registration_authority (seal only)": d["registration_authority"]}
        if d["composition"]:
            other["composition_form"] = d["composition"]
        case = {"id": f"licence-{i:04d}", "kind": "business_license", "document_type": "business_license",
                "layout": f"licence_{layout}", "condition": condition, "variant": variant,
                "overprint": overprint,
                "images": [image_entry(name, "business_license", scene, lines, turn)],
                "fields": fields, **not_visible(fields, hidden), "other_printed": other,
                "failing_checks": c["failing"], "warnings": warnings,
                "verdict": verdict(c["failing"], c["slip"], warnings)}
        if c["slip"] is not None:
            case["lookalike_slip"] = c["slip"]
        cases.append(case)
    truth = {
        "generator": "scripts/make_specimens.py",
        "seed": seed,
        "count": count,
        "today": f"{today:%Y-%m-%d}",
        "conditions": conditions,
        "fonts": {"cjk": str(CJK_REGULAR), "ocr_b": str(OCR_B) if OCR_B else None},
        "note": "样本 — fictional data for testing only",
        "cases": cases,
    }
    (out / "truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1, sort_keys=True) + "\n")
    return truth


def conditions_arg(text: str) -> list[str]:
    names = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in names if c not in CONDITIONS]
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown condition(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(CONDITIONS)}")
    return names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--count", type=int, default=16, help="cases per document kind (about 3 images per step)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--today", default="2026-06-01", help="the date validity is judged on")
    ap.add_argument("--conditions", type=conditions_arg, default=CONDITIONS,
                    help="comma-separated conditions to cycle through (default: all of " + ",".join(CONDITIONS) + ")")
    a = ap.parse_args()
    truth = make(a.out, a.count, a.seed, dt.date.fromisoformat(a.today), a.conditions)
    n = sum(len(c["images"]) for c in truth["cases"])
    print(f"{n} images, {len(truth['cases'])} cases in {a.out}")


if __name__ == "__main__":
    main()
