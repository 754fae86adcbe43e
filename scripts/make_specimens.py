#!/usr/bin/env python3
"""Synthetic specimens for evaluating document verification (`xiaoban eval-docs`).

Draws resident identity cards (front and back) and business licences with FICTIONAL data
(示例市, invented names, generated numbers with correct or deliberately wrong check characters)
and a visible 样本 watermark, in clean and degraded conditions, and writes the truth beside
them in `truth.json`:

    python3 scripts/make_specimens.py OUT_DIR [--count N] [--seed S] [--today YYYY-MM-DD]
                                      [--conditions clean,blur,...]

`--count N` makes N identity-card cases (front + back: 2 images each) and N licence cases
(1 image each), so 3N images. Case i gets condition CONDITIONS[i % 8]; every third case is
an invalid variant. `--conditions` cycles through the named conditions only (case i gets
the (i mod k)-th of the k named), e.g. `--conditions clean` for a clean-only set large enough to
measure clean-scan accuracy; without it the output is the same as before the option existed.
The output depends only on the arguments (seeded; no clock, no network).

Truth per case: document kind, condition, variant, the field values as the analysis should
normalise them, the checks expected to fail, the image warnings expected, the verdict, and per
image the text lines a perfect OCR would return (text and quad in image pixels) — what
`eval-docs --truth-lines` feeds the analysis to measure it without the OCR engine.

Needs Pillow (pinned in scripts/requirements-specimens.txt) and Debian's fonts-noto-cjk;
fonts-ocr-b for the identity number when installed (otherwise Noto Sans is used).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import random
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont

CONDITIONS = [
    "clean",
    "perspective",
    "blur",
    "glare",
    "crop",
    "dark",
    "overexposed",
    "low_resolution",
]
EXPECTED_WARNING = {
    "clean": [],
    "perspective": [],
    "blur": ["blur"],
    "glare": ["glare"],
    "crop": ["cut_off"],
    "dark": ["too_dark"],
    "overexposed": ["overexposed"],
    "low_resolution": ["low_resolution"],
}
ID_INVALID = ["bad_check_digit", "expired", "sex_mismatch", "birth_mismatch"]
LICENCE_INVALID = ["bad_check_digit", "term_ended", "type_mismatch"]

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
        path = {"regular": CJK_REGULAR, "bold": CJK_BOLD, "serif": SERIF_BOLD, "ocrb": OCR_B}[kind]
        if path is None:  # no OCR-B: the number in Noto Sans
            path = CJK_REGULAR
        index = _ttc_index(path) if str(path).endswith(".ttc") else 0
        _FONTS[key] = ImageFont.truetype(str(path), size, index=index)
    return _FONTS[key]


# --------------------------------------------------------------------------------------------
# Identifiers (GB 11643, GB 11714, GB 32100)
# --------------------------------------------------------------------------------------------

ID_WEIGHTS = [(1 << (17 - i)) % 11 for i in range(17)]


def id_check(first17: str) -> str:
    c = (12 - sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS)) % 11) % 11
    return "X" if c == 10 else str(c)


GB32100 = "0123456789ABCDEFGHJKLMNPQRTUWXY"
GB32100_WEIGHTS = [pow(3, i, 31) for i in range(17)]


def org_check(body: str) -> str:
    w = [3, 7, 9, 10, 5, 8, 4, 2]
    s = sum(int(c, 36) * wi for c, wi in zip(body, w))
    c = 11 - s % 11
    return "X" if c == 10 else "0" if c == 11 else str(c)


def credit_check(first17: str) -> str:
    s = sum(GB32100.index(c) * w for c, w in zip(first17, GB32100_WEIGHTS))
    return GB32100[(31 - s % 31) % 31]


def wrong(c: str, alphabet: str, rng: random.Random) -> str:
    return rng.choice([a for a in alphabet if a != c])


# Look-alike digits the recogniser confuses (as src/verify/check.rs CONFUSABLE): a number one
# such slip from valid goes to review, not fail, so an invalid specimen must be further off.
CONFUSABLE = [("1", "7"), ("0", "8"), ("3", "8"), ("5", "6"), ("6", "8")]


def one_slip_from_valid(n: str) -> bool:
    for i, ch in enumerate(n):
        for a, b in CONFUSABLE:
            other = b if ch == a else a if ch == b else None
            if other is not None:
                m = n[:i] + other + n[i + 1:]
                if id_check(m[:17]) == m[17]:
                    return True
    return False


def wrong_check_characters(number: str) -> list[str]:
    """The wrong check characters that no single look-alike slip would explain (may be none)."""
    first17 = number[:17]
    return [a for a in "0123456789X" if a != number[17] and not one_slip_from_valid(first17 + a)]


# --------------------------------------------------------------------------------------------
# Fictional data
# --------------------------------------------------------------------------------------------

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国红文玉春晓雪梅海波宇浩然欣怡子涵嘉琪思远一鸣晨阳雨桐"
ETHNIC = ["汉"] * 14 + ["蒙古", "回", "藏", "维吾尔", "苗", "彝", "壮", "满", "朝鲜", "土家", "哈萨克", "白"]
REGIONS = ["110105", "310104", "440303", "510107", "330106", "350102", "420106", "610113", "230102", "370102"]
DISTRICTS = ["和平区", "新华区", "东城区", "西湖区", "高新区", "滨江区", "长安区", "临江区"]
ROADS = ["解放路", "人民大道", "建设街", "文化路", "光明巷", "朝阳路", "学府路", "河滨路", "中山路"]
SHOP_WORDS = ["小石头", "青禾", "晨光", "好再来", "万家", "星河", "和顺", "福满", "知味", "向阳"]
TRADES = [("餐饮", "餐饮服务；食品销售；预包装食品零售"), ("商贸", "日用百货销售；五金产品零售；文具用品零售"),
          ("科技", "软件开发；信息技术咨询服务；计算机系统服务"), ("文化传媒", "广告设计、代理；组织文化艺术交流活动"),
          ("便利店", "食品销售；日用百货销售；烟草制品零售"), ("家政服务", "家政服务；居民日常生活服务；保洁服务")]
COMPANY_TYPES = ["有限责任公司（自然人投资或控股）", "有限责任公司（自然人独资）", "股份有限公司（非上市、自然人投资或控股）"]
CAPITALS = ["壹佰万元整", "伍拾万元整", "叁佰万元整", "壹仟万元整", "贰佰万元整"]


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
    a = f"示例省示例市{rng.choice(DISTRICTS)}{rng.choice(ROADS)}{rng.randint(1, 299)}号"
    if rng.random() < 0.7:
        a += f"{rng.randint(1, 30)}栋{rng.randint(1, 6)}单元{rng.randint(1, 28)}0{rng.randint(1, 4)}室"
    return a


def id_card_data(rng: random.Random, today: dt.date, variant: str) -> dict:
    for _ in range(1000):
        sex = rng.choice("男女")
        birth = rand_date(rng, add_years(today, -75), add_years(today, -3))
        region = rng.choice(REGIONS)
        seq = rng.randint(0, 99) * 10 + rng.choice([1, 3, 5, 7, 9] if sex == "男" else [0, 2, 4, 6, 8])
        body = f"{region}{birth:%Y%m%d}{seq:03d}"
        number = body + id_check(body)
        # Issue date and term by age at issue (居民身份证法 第五条).
        lo = max(birth + dt.timedelta(days=30), add_years(today, -25))
        issued = rand_date(rng, lo, today - dt.timedelta(days=30))
        term = legal_term(age_at(birth, issued))
        end = None if term is None else add_years(issued, term)
        expired = end is not None and end < today
        if (variant == "expired") != expired:
            continue
        if variant == "bad_check_digit" and not wrong_check_characters(number):
            continue  # every wrong check character is one look-alike slip from valid: draw again
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
    failing = []
    if variant == "expired":
        failing.append("id_card.not_expired")
    if variant == "bad_check_digit":
        d["id_number"] = number[:17] + rng.choice(wrong_check_characters(number))
        failing.append("gb11643.check_character")
    if variant == "sex_mismatch":
        d["sex"] = "女" if sex == "男" else "男"
        failing.append("id_card.sex_matches_number")
    if variant == "birth_mismatch":
        # A printed date off by days, keeping the age at issue's legal term (so only this rule fails).
        for _ in range(100):
            printed = birth + dt.timedelta(days=rng.choice([-1, 1]) * rng.randint(1, 60))
            if printed < issued and legal_term(age_at(printed, issued)) == term and printed <= today:
                d["birth"] = printed
                break
        failing.append("id_card.birth_date_matches_number")
    return {"data": d, "failing": failing}


def credit_code(rng: random.Random, kind: str) -> str:
    body = "".join(rng.choice(GB32100) for _ in range(8))
    first17 = f"9{kind}{rng.choice(REGIONS)}{body}{org_check(body)}"
    return first17 + credit_check(first17)


def licence_data(rng: random.Random, today: dt.date, variant: str, individual: bool) -> dict:
    if variant in ("term_ended", "type_mismatch"):
        individual = False
    word = rng.choice(SHOP_WORDS)
    trade, scope = rng.choice(TRADES)
    established = rand_date(rng, add_years(today, -25), today - dt.timedelta(days=60))
    failing = []
    if individual:
        name = f"示例市{rng.choice(DISTRICTS)}{word}{trade}店"
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
        code = code[:17] + wrong(code[17], GB32100, rng)
        failing.append("gb32100.check_character")
    if variant == "type_mismatch":
        # A company type with an individual business's code (92…), correctly checked.
        first17 = "92" + code[2:17]
        code = first17 + credit_check(first17)
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
            "registration_authority": f"示例市{rng.choice(DISTRICTS)}市场监督管理局" if individual else "示例市市场监督管理局",
            "issue_date": issued,
            "individual": individual,
        },
        "failing": failing,
    }


# --------------------------------------------------------------------------------------------
# Drawing: each document is drawn flat; every text item is recorded as an OCR line
# --------------------------------------------------------------------------------------------


class Doc:
    def __init__(self, w: int, h: int, bg: tuple):
        self.img = Image.new("RGB", (w, h), bg)
        self.draw = ImageDraw.Draw(self.img)
        self.lines: list[dict] = []

    def text(self, xy, s: str, f, fill, record: bool = True, spacing: int = 0) -> tuple:
        """Draws `s` at xy (letter-spaced by `spacing`), returns its box; records it as a line."""
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
            self.record(s, box)
        return box

    def record(self, s: str, box):
        pad = 4
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

    def watermark(self, xy, size: int):
        layer = Image.new("RGBA", self.img.size, (0, 0, 0, 0))
        d = ImageDraw.Draw(layer)
        f = font("bold", size)
        d.text(xy, "样本", font=f, fill=(210, 30, 30, 170))
        l, t, r, b = f.getbbox("样本")
        self.img = Image.alpha_composite(self.img.convert("RGBA"), layer).convert("RGB")
        self.draw = ImageDraw.Draw(self.img)
        self.record("样本", (xy[0] + l, xy[1] + t, xy[0] + r, xy[1] + b))


LABEL = (40, 100, 170)
INK = (25, 25, 25)


def draw_front(d: dict, rng: random.Random) -> Doc:
    doc = Doc(856, 540, (228, 236, 240))
    dr = doc.draw
    for i in range(0, 856, 6):  # guilloche-like faint pattern
        dr.line([(i, 0), (i + 120, 540)], fill=(218, 228, 236), width=1)
    lab, val = font("regular", 24), font("regular", 28)
    doc.text((60, 56), "姓名", lab, LABEL)
    doc.text((150, 52), d["name"], val, INK)
    doc.text((60, 116), "性别", lab, LABEL)
    doc.text((150, 112), d["sex"], val, INK)
    doc.text((280, 116), "民族", lab, LABEL)
    doc.text((370, 112), d["ethnicity"], val, INK)
    doc.text((60, 176), "出生", lab, LABEL)
    b = d["birth"]
    x, boxes = 150, []
    for part, f, c in [(str(b.year), val, INK), ("年", lab, LABEL), (str(b.month), val, INK), ("月", lab, LABEL),
                       (str(b.day), val, INK), ("日", lab, LABEL)]:
        boxes.append(doc.text((x, 172 + (4 if f is lab else 0)), part, f, c, record=False))
        x = boxes[-1][2] + 12
    doc.record(f"{b.year}年{b.month}月{b.day}日", (boxes[0][0], min(bb[1] for bb in boxes), boxes[-1][2], max(bb[3] for bb in boxes)))
    doc.text((60, 236), "住址", lab, LABEL)
    for i, part in enumerate(doc.wrap(d["address"], val, 400)):
        doc.text((150, 232 + 38 * i), part, val, INK)
    doc.text((60, 440), "公民身份号码", lab, LABEL)
    doc.text((250, 434), d["id_number"], font("ocrb", 34), INK, spacing=2)
    # Photo: a grey silhouette.
    dr.rectangle([600, 60, 800, 320], fill=(205, 212, 218))
    dr.ellipse([650, 95, 750, 215], fill=(150, 155, 160))
    dr.pieslice([610, 210, 790, 420], 180, 360, fill=(150, 155, 160))
    doc.watermark((615, 330), 80)
    return doc


def draw_back(d: dict, rng: random.Random) -> Doc:
    doc = Doc(856, 540, (230, 236, 232))
    dr = doc.draw
    for i in range(0, 540, 6):
        dr.line([(0, i), (856, i + 60)], fill=(220, 229, 224), width=1)
    # Emblem: a red disc with a star (no text).
    dr.ellipse([60, 40, 190, 170], fill=(200, 40, 40))
    cx, cy, r = 125, 105, 40
    pts = []
    for k in range(10):
        a, rr = math.radians(90 + 36 * k), r if k % 2 == 0 else 0.4 * r
        pts.append((cx + rr * math.cos(a), cy - rr * math.sin(a)))
    dr.polygon(pts, fill=(250, 210, 60))
    doc.text((250, 60), "中华人民共和国", font("bold", 42), INK, spacing=6)
    doc.text((260, 140), "居民身份证", font("bold", 60), INK, spacing=14)
    lab, val = font("regular", 24), font("regular", 28)
    doc.text((150, 390), "签发机关", lab, INK)
    doc.text((290, 386), d["issuing_authority"], val, INK)
    doc.text((150, 450), "有效期限", lab, INK)
    to = "长期" if d["valid_to"] is None else f"{d['valid_to']:%Y.%m.%d}"
    doc.text((290, 446), f"{d['valid_from']:%Y.%m.%d}-{to}", val, INK)
    doc.watermark((640, 230), 80)
    return doc


def cn_date(x: dt.date) -> str:
    return f"{x.year}年{x.month:02d}月{x.day:02d}日"


def draw_licence(d: dict, rng: random.Random) -> Doc:
    doc = Doc(1400, 990, (248, 245, 236))
    dr = doc.draw
    dr.rectangle([30, 30, 1370, 960], outline=(170, 120, 60), width=10)
    dr.rectangle([50, 50, 1350, 940], outline=(190, 150, 90), width=3)
    doc.text((520, 60), "营业执照", font("serif", 88), (200, 40, 40), spacing=20)
    doc.text((640, 180), "（副本）", font("regular", 30), INK)
    lab, val = font("regular", 26), font("regular", 26)
    doc.text((120, 250), "统一社会信用代码", lab, INK)
    doc.text((350, 250), d["credit_code"], val, INK)
    # QR code stand-in.
    for i in range(14):
        for j in range(14):
            if rng.random() < 0.5:
                dr.rectangle([1170 + 10 * i, 200 + 10 * j, 1179 + 10 * i, 209 + 10 * j], fill=(20, 20, 20))

    def field(x_label, x_value, y, label, value, width):
        doc.text((x_label, y), label, lab, INK)
        parts = doc.wrap(value, val, width)
        for i, p in enumerate(parts):
            doc.text((x_value, y + 38 * i), p, val, INK)
        return y + 38 * max(1, len(parts)) + 26

    y = 340
    y = field(120, 280, y, "名称", d["name"], 400)
    y = field(120, 280, y, "类型", d["type"], 400)
    y = field(120, 280, y, "经营者" if d["individual"] else "法定代表人", d["legal_representative"], 400)
    field(120, 280, y, "经营范围", d["business_scope"], 400)
    y = 340
    if d["individual"]:
        y = field(760, 900, y, "组成形式", "个人经营", 400)
        y = field(760, 900, y, "注册日期", cn_date(d["established"]), 400)
        field(760, 900, y, "经营场所", d["address"], 400)
    else:
        y = field(760, 900, y, "注册资本", d["registered_capital"], 400)
        y = field(760, 900, y, "成立日期", cn_date(d["established"]), 400)
        start, end = d["term"]
        y = field(760, 900, y, "营业期限", f"{cn_date(start)}至{'长期' if end is None else cn_date(end)}", 400)
        field(760, 900, y, "住所", d["address"], 400)
    # Registration authority, its seal, the date.
    doc.text((800, 780), "登记机关", lab, INK)
    doc.text((940, 780), d["registration_authority"], val, INK)
    seal = Image.new("RGBA", doc.img.size, (0, 0, 0, 0))
    ImageDraw.Draw(seal).ellipse([1020, 720, 1220, 920], outline=(210, 30, 30, 150), width=8)
    doc.img = Image.alpha_composite(doc.img.convert("RGBA"), seal).convert("RGB")
    doc.draw = ImageDraw.Draw(doc.img)
    doc.text((1000, 840), cn_date(d["issue_date"]), val, INK)
    doc.text((120, 890), "国家企业信用信息公示系统网址：http://www.gsxt.gov.cn", font("regular", 18), INK)
    doc.watermark((420, 700), 90)
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


def photograph(doc: Doc, condition: str, rng: random.Random, focus: tuple, crop: tuple) -> tuple[Image.Image, list[dict]]:
    """Places the document in a scene under `condition`; `focus` is where glare falls and
    `crop` the range of the document's width where a crop cuts it (document coordinates)."""
    w, h = doc.img.size
    margin = int(0.08 * w)
    sw, sh = w + 2 * margin, h + 2 * margin
    base = Image.new("RGB", (sw, sh), (96, 84, 72))
    noise = Image.effect_noise((sw, sh), 18).convert("RGB")
    scene = Image.blend(base, noise, 0.15)
    x0, y0 = margin + rng.randint(-10, 10), margin + rng.randint(-10, 10)
    corners = [(x0, y0), (x0 + w, y0), (x0 + w, y0 + h), (x0, y0 + h)]
    if condition == "perspective":
        j = 0.07
        corners = [
            (corners[0][0] + rng.uniform(0, j) * w, corners[0][1] + rng.uniform(0, j) * h),
            (corners[1][0] - rng.uniform(0, j) * w, corners[1][1] + rng.uniform(0, j) * h),
            (corners[2][0] - rng.uniform(0, j) * w, corners[2][1] - rng.uniform(0, j) * h),
            (corners[3][0] + rng.uniform(0, j) * w, corners[3][1] - rng.uniform(0, j) * h),
        ]
    src = [(0, 0), (w, 0), (w, h), (0, h)]
    fwd = homography(src, corners)
    inv = homography(corners, src)
    mask = Image.new("L", (w, h), 255)
    warped = doc.img.transform((sw, sh), Image.Transform.PERSPECTIVE, inv, Image.Resampling.BICUBIC)
    wmask = mask.transform((sw, sh), Image.Transform.PERSPECTIVE, inv, Image.Resampling.BILINEAR)
    scene.paste(warped, (0, 0), wmask)
    lines = [{"text": l["text"], "quad": [apply(fwd, x, y) for x, y in l["quad"]]} for l in doc.lines]

    if condition == "blur":
        scene = scene.filter(ImageFilter.GaussianBlur(rng.uniform(1.5, 3.0)))
    elif condition == "glare":
        fx, fy = apply(fwd, *focus)
        rx, ry = 0.22 * w, 0.12 * h
        m = Image.new("L", (sw, sh), 0)
        ImageDraw.Draw(m).ellipse([fx - rx, fy - ry, fx + rx, fy + ry], fill=255)
        m = m.filter(ImageFilter.GaussianBlur(25))
        scene = Image.composite(Image.new("RGB", (sw, sh), (255, 255, 255)), scene, m)
        ImageDraw.Draw(scene).ellipse([fx - 0.7 * rx, fy - 0.6 * ry, fx + 0.7 * rx, fy + 0.6 * ry], fill=(255, 255, 255))
    elif condition == "crop":
        cut_x = int(corners[0][0] + rng.uniform(*crop) * w)
        scene = scene.crop((0, 0, cut_x, sh))
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
    elif condition == "dark":
        scene = ImageEnhance.Brightness(scene).enhance(rng.uniform(0.22, 0.3))
    elif condition == "overexposed":
        lut = [min(255, int(v * 1.5 + 70)) for v in range(256)] * 3
        scene = scene.point(lut)
    elif condition == "low_resolution":
        f = rng.uniform(0.25, 0.32)
        scene = scene.resize((int(sw * f), int(sh * f)), Image.Resampling.LANCZOS)
        lines = [{"text": l["text"], "quad": [[x * f, y * f] for x, y in l["quad"]]} for l in lines]
    for l in lines:
        l["quad"] = [[round(x, 1), round(y, 1)] for x, y in l["quad"]]
    return scene, lines


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------


def ymd(x: dt.date | None) -> str | None:
    return None if x is None else f"{x:%Y-%m-%d}"


def verdict(failing: list, warnings: list) -> str:
    return "fail" if failing else "review" if warnings else "pass"


def make(out: Path, count: int, seed: int, today: dt.date, conditions: list[str] | None = None) -> dict:
    conditions = conditions or CONDITIONS
    out.mkdir(parents=True, exist_ok=True)
    cases = []
    for i in range(count):
        condition = conditions[i % len(conditions)]
        # Identity card: front and back.
        rng = random.Random(f"{seed}-id-{i}")
        # A crop may hide the field an invalid variant rests on: crops are valid documents.
        invalid = i % 3 == 2 and condition != "crop"
        variant = ID_INVALID[(i // 3) % len(ID_INVALID)] if invalid else "valid"
        c = id_card_data(rng, today, variant)
        d = c["data"]
        images = []
        for side, doc, focus in [("front", draw_front(d, rng), (300, 200)), ("back", draw_back(d, rng), (420, 420))]:
            scene, lines = photograph(doc, condition, rng, focus, (0.68, 0.72))
            name = f"idcard-{i:04d}-{side}.png"
            scene.save(out / name)
            images.append({"file": name, "document_type": f"id_card_{side}", "width": scene.width,
                           "height": scene.height, "lines": lines})
        fields = {
            "name": d["name"], "sex": d["sex"], "ethnicity": d["ethnicity"], "birth_date": ymd(d["birth"]),
            "address": d["address"], "id_number": d["id_number"], "issuing_authority": d["issuing_authority"],
            "valid_from": ymd(d["valid_from"]), "valid_to": ymd(d["valid_to"]) or "长期",
        }
        warnings = EXPECTED_WARNING[condition]
        cases.append({"id": f"idcard-{i:04d}", "kind": "id_card", "document_type": "id_card_front",
                      "condition": condition, "variant": variant, "images": images, "fields": fields,
                      "failing_checks": c["failing"], "warnings": warnings,
                      "verdict": verdict(c["failing"], warnings)})

        # Business licence.
        rng = random.Random(f"{seed}-licence-{i}")
        variant = LICENCE_INVALID[(i // 3) % len(LICENCE_INVALID)] if invalid else "valid"
        c = licence_data(rng, today, variant, individual=(i % 4 == 3))
        d = c["data"]
        scene, lines = photograph(draw_licence(d, rng), condition, rng, (400, 420), (0.84, 0.88))
        name = f"licence-{i:04d}.png"
        scene.save(out / name)
        fields = {
            "credit_code": d["credit_code"], "name": d["name"], "type": d["type"],
            "legal_representative": d["legal_representative"], "established_date": ymd(d["established"]),
            "address": d["address"], "business_scope": d["business_scope"],
            "registration_authority": d["registration_authority"], "issue_date": ymd(d["issue_date"]),
        }
        if d["registered_capital"]:
            fields["registered_capital"] = d["registered_capital"]
        if d["term"]:
            start, end = d["term"]
            fields["business_term"] = f"{ymd(start)}至{'长期' if end is None else ymd(end)}"
        cases.append({"id": f"licence-{i:04d}", "kind": "business_license", "document_type": "business_license",
                      "condition": condition, "variant": variant,
                      "images": [{"file": name, "document_type": "business_license", "width": scene.width,
                                  "height": scene.height, "lines": lines}],
                      "fields": fields, "failing_checks": c["failing"], "warnings": warnings,
                      "verdict": verdict(c["failing"], warnings)})
    truth = {
        "generator": "scripts/make_specimens.py",
        "seed": seed,
        "count": count,
        "today": f"{today:%Y-%m-%d}",
        "fonts": {"cjk": str(CJK_REGULAR), "ocr_b": str(OCR_B) if OCR_B else None},
        "note": "样本 — fictional data for testing only",
        "cases": cases,
    }
    if conditions != CONDITIONS:  # recorded only when narrowed, so the default output is unchanged
        truth["conditions"] = conditions
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
    ap.add_argument("--count", type=int, default=16, help="cases per document kind (3 images per step)")
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
