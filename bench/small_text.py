"""Small names, synthetic: round patches with a name along the top and the bottom of the rim,
and straight name tags (tilted up to 25 degrees), in Latin or Cyrillic capitals of 5-9 px, drawn
on the street photos of `shared/data/people` (one patch and one tag a photo, placed, coloured
and named by a generator seeded with the file's name; drawn 4x larger and scaled down, blurred
by half a pixel and saved as JPEG, quality 85, as a camera and a web page would).

What the text set lacks: the embroidered names of a mission patch, a badge's rim, a name tag in
a crowd shot. `items(part)` gives (name, picture, [(letters' mask, facts)]) for the photos of
one part (`bench/text.py`'s `part`: the rims pass was chosen on "tune"). All names are
fictional.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"  # Debian fonts-dejavu-core
LATIN = ["COLLINS", "ASHBY", "HAWLEY", "TOGNINI", "MARTIN", "KOWALSKI", "NGUYEN", "OKAFOR",
         "SILVA", "MEYER", "PETROV", "GARCIA"]
CYRILLIC = ["ИВАНОВ", "СМИРНОВ", "ПЕТРОВА", "КУЗНЕЦОВ", "ОРЛОВА", "ВОЛКОВ", "ЛЕБЕДЕВ",
            "МОРОЗОВА"]
UP = 4  # drawn this much larger, then scaled down

def _glyph_arc(draw_img: Image.Image, text: str, cx: float, cy: float, r: float, cap: float,
               top: bool, font: ImageFont.FreeTypeFont) -> None:
    """`text`'s letters drawn (255) on `draw_img` along the arc of radius `r` around (`cx`,
    `cy`), centred on its top (reading clockwise, tops outwards) or its bottom (tops inwards),
    letters `cap` px high."""
    widths = [font.getlength(ch) for ch in text]
    total = sum(widths) + 0.15 * cap * (len(text) - 1)
    ang = total / r  # radians spanned
    a = -ang / 2
    for ch, wch in zip(text, widths, strict=True):
        mid = a + (wch / 2) / r
        glyph = Image.new("L", (int(cap * 3), int(cap * 3)), 0)
        ImageDraw.Draw(glyph).text((cap * 1.5, cap * 1.5), ch, font=font, fill=255, anchor="mm")
        if top:
            x, y = cx + r * math.sin(mid), cy - r * math.cos(mid)
            rot = -math.degrees(mid)
        else:
            x, y = cx + r * math.sin(mid), cy + r * math.cos(mid)
            rot = math.degrees(mid)
        g = glyph.rotate(rot, resample=Image.BICUBIC)
        draw_img.paste(255, (int(x - g.size[0] / 2), int(y - g.size[1] / 2)), g)
        a += (wch + 0.15 * cap) / r

def render(rgb: np.ndarray, seed: str) -> tuple[np.ndarray, list[tuple[np.ndarray, dict]]]:
    """`rgb` with one patch and one tag drawn on it, and each word's letters (mask, facts)."""
    rnd = random.Random(seed)
    h, w = rgb.shape[:2]
    big = Image.fromarray(rgb).resize((w * UP, h * UP), Image.BICUBIC)
    words = []
    for kind in ("patch", "tag"):
        cap = rnd.uniform(5, 9)  # cap height, picture pixels
        font = ImageFont.truetype(FONT, int(cap * UP / 0.73))
        script = rnd.choice(["latin", "cyrillic"])
        pool = LATIN if script == "latin" else CYRILLIC
        ink = rnd.uniform(0.35, 1.0)  # faint (thread close to the cloth's colour) to crisp
        canvas = big.copy()
        fg = rnd.choice([(255, 255, 255), (250, 220, 60), (20, 20, 20)])
        bg = ((230, 230, 210) if fg == (20, 20, 20)
              else rnd.choice([(40, 50, 140), (150, 30, 30), (30, 90, 50)]))
        if kind == "patch":
            r = rnd.uniform(5.5, 8) * cap
            cx, cy = rnd.uniform(r + 5, w - r - 5), rnd.uniform(r + 5, h - r - 5)
            d = ImageDraw.Draw(canvas)
            d.ellipse([(cx - r) * UP, (cy - r) * UP, (cx + r) * UP, (cy + r) * UP], fill=bg)
            for top in (True, False):
                name = rnd.choice(pool)
                layer = Image.new("L", big.size, 0)
                _glyph_arc(layer, name, cx * UP, cy * UP, (r - cap) * UP, cap * UP, top, font)
                canvas.paste(Image.new("RGB", big.size, fg), (0, 0),
                             layer.point(lambda v, ink=ink: round(v * ink)))
                words.append((layer, {"kind": "patch", "script": script, "cap": cap}))
        else:
            name = rnd.choice(pool) + " " + rnd.choice(pool)
            tw = font.getlength(name) / UP
            x, y = rnd.uniform(5, max(6, w - tw - 15)), rnd.uniform(5, h - 3 * cap - 5)
            angle = rnd.uniform(-25, 25)
            tag = Image.new("RGBA", (int((tw + 2 * cap) * UP), int(2.4 * cap * UP)), bg + (255,))
            lay = Image.new("L", tag.size, 0)
            ImageDraw.Draw(lay).text((cap * UP, 1.2 * cap * UP), name, font=font, fill=255,
                                     anchor="lm")
            tag.paste(Image.new("RGBA", tag.size, fg + (255,)), (0, 0),
                      lay.point(lambda v, ink=ink: round(v * ink)))
            tag = tag.rotate(angle, resample=Image.BICUBIC, expand=True)
            lay = lay.rotate(angle, resample=Image.BICUBIC, expand=True)
            canvas.paste(tag, (int(x * UP), int(y * UP)), tag)
            layer = Image.new("L", big.size, 0)
            layer.paste(lay, (int(x * UP), int(y * UP)))
            words.append((layer, {"kind": "tag", "script": script, "cap": cap}))
        big = canvas
    out = big.resize((w, h), Image.LANCZOS).filter(ImageFilter.GaussianBlur(0.5))
    # A word's letters: picture pixels a tenth or more covered by its ink.
    masks = [(np.asarray(layer.resize((w, h), Image.BOX)) > 25, facts) for layer, facts in words]
    _, jpeg = cv2.imencode(".jpg", np.asarray(out)[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    return cv2.imdecode(jpeg, cv2.IMREAD_COLOR)[:, :, ::-1].copy(), masks

def items(part_name: str, folder: Path, part) -> list[tuple[str, np.ndarray, list]]:
    """(file name, picture, words) for the photos of `folder` in part `part_name`."""
    out = []
    for path in sorted(folder.glob("*.jpg")):
        if part(path.name) != part_name:
            continue
        rgb = cv2.imread(str(path), cv2.IMREAD_COLOR)[:, :, ::-1].copy()
        out.append((path.name, *render(rgb, path.name)))
    return out
