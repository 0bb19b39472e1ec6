#!/usr/bin/env python3
"""Render a terminal screen captured with ANSI colours (`tmux capture-pane -e -p`) to PNG.

    ansi2png.py INPUT.ansi OUTPUT.png [--cols 120] [--rows 40] [--font-size 15]

INPUT may be "-" for stdin. Understands SGR sequences: reset, bold, dim, italic,
underline, reverse, strike-through and their resets, the 16 colours (30-37, 90-97,
40-47, 100-107), 256 colours (38;5;n / 48;5;n) and truecolor (38;2;r;g;b / 48;2;r;g;b,
also with colons). Other escape sequences (cursor moves, OSC titles and hyperlinks) are
skipped. Draws on a dark background with DejaVu Sans Mono (regular and bold) when
installed, else Pillow's default font. Box-drawing lines, block elements and braille
dots are drawn as shapes so that borders join up and charts look like they do in a
terminal, whatever the font.
"""

from __future__ import annotations

import argparse
import re
import sys
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_DIRS = [
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
]

BACKGROUND = (24, 26, 33)
FOREGROUND = (214, 218, 224)
# A dark theme for the 16 base colours (black, red, green, yellow, blue, magenta, cyan,
# white, then the bright ones).
PALETTE16 = [
    (40, 42, 54), (224, 85, 97), (120, 200, 120), (229, 192, 100),
    (97, 155, 240), (200, 120, 221), (86, 200, 214), (200, 204, 212),
    (92, 99, 112), (255, 110, 120), (152, 230, 140), (245, 215, 120),
    (125, 180, 255), (222, 150, 240), (120, 225, 235), (240, 242, 246),
]


def palette256(n: int) -> tuple[int, int, int]:
    if n < 16:
        return PALETTE16[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return steps[n // 36], steps[(n // 6) % 6], steps[n % 6]
    v = 8 + 10 * (n - 232)
    return v, v, v


@dataclass(frozen=True)
class Style:
    fg: tuple[int, int, int] | None = None
    bg: tuple[int, int, int] | None = None
    bold: bool = False
    dim: bool = False
    italic: bool = False
    underline: bool = False
    reverse: bool = False
    strike: bool = False
    hidden: bool = False


def _extended_colour(params: list[int], i: int) -> tuple[tuple[int, int, int] | None, int]:
    """Parses the colour after 38/48 at params[i]; returns it and the next index."""
    if i < len(params) and params[i] == 5 and i + 1 < len(params):
        return palette256(max(0, min(255, params[i + 1]))), i + 2
    if i < len(params) and params[i] == 2 and i + 3 < len(params):
        r, g, b = (max(0, min(255, v)) for v in params[i + 1 : i + 4])
        return (r, g, b), i + 4
    return None, len(params)


def apply_sgr(style: Style, raw: str) -> Style:
    # "38:2::r:g:b" (ITU form with an empty colour-space id) and "38:5:n" use colons.
    fields = re.split(r"[;:]", raw) if raw else ["0"]
    if ":" in raw and raw.startswith(("38:2::", "48:2::")):
        fields = [fields[0], "2", *fields[3:]]
    params = [int(f) if f.isdigit() else 0 for f in fields]
    i = 0
    s = style
    while i < len(params):
        p = params[i]
        i += 1
        if p == 0:
            s = Style()
        elif p == 1:
            s = replace(s, bold=True)
        elif p == 2:
            s = replace(s, dim=True)
        elif p == 3:
            s = replace(s, italic=True)
        elif p in (4, 21):
            s = replace(s, underline=True)
        elif p == 7:
            s = replace(s, reverse=True)
        elif p == 8:
            s = replace(s, hidden=True)
        elif p == 9:
            s = replace(s, strike=True)
        elif p == 22:
            s = replace(s, bold=False, dim=False)
        elif p == 23:
            s = replace(s, italic=False)
        elif p == 24:
            s = replace(s, underline=False)
        elif p == 27:
            s = replace(s, reverse=False)
        elif p == 28:
            s = replace(s, hidden=False)
        elif p == 29:
            s = replace(s, strike=False)
        elif 30 <= p <= 37:
            s = replace(s, fg=PALETTE16[p - 30])
        elif p == 38:
            c, i = _extended_colour(params, i)
            if c is not None:
                s = replace(s, fg=c)
        elif p == 39:
            s = replace(s, fg=None)
        elif 40 <= p <= 47:
            s = replace(s, bg=PALETTE16[p - 40])
        elif p == 48:
            c, i = _extended_colour(params, i)
            if c is not None:
                s = replace(s, bg=c)
        elif p == 49:
            s = replace(s, bg=None)
        elif 90 <= p <= 97:
            s = replace(s, fg=PALETTE16[p - 90 + 8])
        elif 100 <= p <= 107:
            s = replace(s, bg=PALETTE16[p - 100 + 8])
        # anything else (blink, fonts, overline, ...) is ignored
    return s


# CSI ... final byte | OSC ... (BEL or ST) | other two-byte escapes
ESCAPE = re.compile(r"\x1b\[([0-9;:?<=>]*)([ -/]*[@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def char_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def parse(text: str) -> list[list[tuple[str, Style]]]:
    """Parses captured text into rows of (character, style) cells. The style carries on
    across lines, as it does in tmux's output."""
    rows: list[list[tuple[str, Style]]] = []
    style = Style()
    for line in text.split("\n"):
        cells: list[tuple[str, Style]] = []
        pos = 0
        for m in ESCAPE.finditer(line):
            for ch in line[pos : m.start()]:
                _put(cells, ch, style)
            pos = m.end()
            if m.group(2) == "m":
                style = apply_sgr(style, m.group(1))
        for ch in line[pos:]:
            _put(cells, ch, style)
        rows.append(cells)
    if rows and not rows[-1]:
        rows.pop()  # the newline that ends the capture
    return rows


def _put(cells: list[tuple[str, Style]], ch: str, style: Style) -> None:
    if ch == "\r":
        return
    if ch == "\t":
        for _ in range(8 - len(cells) % 8):
            cells.append((" ", style))
        return
    if ord(ch) < 32 or ord(ch) == 127:
        return
    w = char_width(ch)
    if w == 0:
        if cells:  # combining mark: join it to the previous cell
            prev, st = cells[-1]
            cells[-1] = (prev + ch, st)
        return
    cells.append((ch, style))
    if w == 2:
        cells.append(("", style))  # the wide character's second cell


def load_fonts(size: int):
    for d in FONT_DIRS:
        regular = d / "DejaVuSansMono.ttf"
        bold = d / "DejaVuSansMono-Bold.ttf"
        if regular.exists():
            r = ImageFont.truetype(str(regular), size)
            b = ImageFont.truetype(str(bold), size) if bold.exists() else r
            return r, b, True
    try:
        f = ImageFont.load_default(size=size)  # Pillow >= 10.1
    except TypeError:
        f = ImageFont.load_default()
    return f, f, False


# Box drawing: character -> (up, right, down, left) line weights: 0 none, 1 light,
# 2 heavy, 3 double.
def _box_table() -> dict[str, tuple[int, int, int, int]]:
    t: dict[str, tuple[int, int, int, int]] = {}
    spec = {
        # light
        "─": "0101", "│": "1010", "┌": "0110", "┐": "0011", "└": "1100", "┘": "1001",
        "├": "1110", "┤": "1011", "┬": "0111", "┴": "1101", "┼": "1111",
        "╴": "0001", "╵": "1000", "╶": "0100", "╷": "0010",
        # heavy
        "━": "0202", "┃": "2020", "┏": "0220", "┓": "0022", "┗": "2200", "┛": "2002",
        "┣": "2220", "┫": "2022", "┳": "0222", "┻": "2202", "╋": "2222",
        # double
        "═": "0303", "║": "3030", "╔": "0330", "╗": "0033", "╚": "3300", "╝": "3003",
        "╠": "3330", "╣": "3033", "╦": "0333", "╩": "3303", "╬": "3333",
        # rounded corners (drawn square)
        "╭": "0110", "╮": "0011", "╰": "1100", "╯": "1001",
        # dashed (drawn solid)
        "┄": "0101", "┈": "0101", "╌": "0101", "┆": "1010", "┊": "1010", "╎": "1010",
    }
    for ch, w in spec.items():
        t[ch] = tuple(int(c) for c in w)  # type: ignore[assignment]
    return t


BOX = _box_table()


class Renderer:
    def __init__(self, font_size: int, padding: int):
        self.font, self.bold_font, self.truetype = load_fonts(font_size)
        self.padding = padding
        if self.truetype:
            ascent, descent = self.font.getmetrics()
            self.cw = max(1, round(self.font.getlength("M")))
            self.ch = ascent + descent + 1
            self.baseline = ascent
        else:
            box = self.font.getbbox("M")
            self.cw = max(1, box[2] - box[0] + 1)
            self.ch = max(1, box[3] + 4)
            self.baseline = None
        self.thin = max(1, round(font_size / 14))
        self.thick = self.thin * 2 + 1

    def colours(self, st: Style) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        fg = st.fg or FOREGROUND
        bg = st.bg or BACKGROUND
        if st.reverse:
            fg, bg = bg, fg
        if st.dim:
            fg = tuple((a + b) // 2 for a, b in zip(fg, bg))  # type: ignore[assignment]
        if st.hidden:
            fg = bg
        return fg, bg

    def render(self, rows, cols: int | None, nrows: int | None) -> Image.Image:
        cols = cols or max((len(r) for r in rows), default=1)
        nrows = nrows or len(rows)
        w = cols * self.cw + 2 * self.padding
        h = nrows * self.ch + 2 * self.padding
        img = Image.new("RGB", (w, h), BACKGROUND)
        draw = ImageDraw.Draw(img)
        for y, row in enumerate(rows[:nrows]):
            for x, (text, st) in enumerate(row[:cols]):
                px = self.padding + x * self.cw
                py = self.padding + y * self.ch
                fg, bg = self.colours(st)
                span = 2 if (x + 1 < len(row) and row[x + 1][0] == "") else 1
                if bg != BACKGROUND:
                    draw.rectangle([px, py, px + span * self.cw - 1, py + self.ch - 1], fill=bg)
                if not text or text == " ":
                    continue
                if not self.shape(draw, text[0], px, py, fg, bg):
                    font = self.bold_font if st.bold else self.font
                    if self.baseline is not None:
                        draw.text((px, py + self.baseline), text, font=font, fill=fg, anchor="ls")
                    else:
                        draw.text((px, py + 2), text, font=font, fill=fg)
                if st.underline:
                    uy = py + self.ch - 2
                    draw.line([px, uy, px + span * self.cw - 1, uy], fill=fg, width=self.thin)
                if st.strike:
                    sy = py + self.ch // 2
                    draw.line([px, sy, px + span * self.cw - 1, sy], fill=fg, width=self.thin)
        return img

    def shape(self, draw: ImageDraw.ImageDraw, c: str, px: int, py: int, fg, bg) -> bool:
        """Draws box-drawing, block and braille characters as shapes; False otherwise."""
        cw, ch = self.cw, self.ch
        cx, cy = px + cw // 2, py + ch // 2
        x1, y1 = px + cw - 1, py + ch - 1
        if c in BOX:
            up, right, down, left = BOX[c]

            off = self.thin + 1  # half the gap of a double line

            def double(arm: str) -> None:
                # Two thin lines either side of the centre line. Each stops at the near
                # or the far line of the crossing arm, so corners and tees join up: it
                # stops short (at +off) when an arm leaves on its own side, else runs on
                # to the far side (-off) to close the corner.
                for o in (-off, off):
                    if arm in ("left", "right"):
                        side = up if o < 0 else down
                        reach = off if side else -off
                        if arm == "right":
                            xa, xb = cx + reach, x1
                        else:
                            xa, xb = px, cx - reach
                        draw.line([xa, cy + o, xb, cy + o], fill=fg, width=self.thin)
                    else:
                        side = left if o < 0 else right
                        reach = off if side else -off
                        if arm == "down":
                            ya, yb = cy + reach, y1
                        else:
                            ya, yb = py, cy - reach
                        draw.line([cx + o, ya, cx + o, yb], fill=fg, width=self.thin)

            def seg(weight: int, arm: str) -> None:
                if weight == 0:
                    return
                if weight == 3:
                    double(arm)
                    return
                width = self.thin if weight == 1 else self.thick
                lo = -(width // 2)
                hi = lo + width - 1
                if arm == "up":
                    draw.rectangle([cx + lo, py, cx + hi, cy + hi], fill=fg)
                elif arm == "down":
                    draw.rectangle([cx + lo, cy + lo, cx + hi, y1], fill=fg)
                elif arm == "left":
                    draw.rectangle([px, cy + lo, cx + hi, cy + hi], fill=fg)
                else:
                    draw.rectangle([cx + lo, cy + lo, x1, cy + hi], fill=fg)

            seg(up, "up")
            seg(down, "down")
            seg(left, "left")
            seg(right, "right")
            return True
        o = ord(c)
        if 0x2580 <= o <= 0x259F:
            return self.block(draw, c, px, py, x1, y1, fg, bg)
        if 0x2800 <= o <= 0x28FF:
            bits = o - 0x2800
            # dot order: 1 2 3 7 in the left column, 4 5 6 8 in the right one
            dots = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (0, 3), (1, 3)]
            r = max(1, round(min(cw / 4.0, ch / 8.0) * 0.7))
            for n, (col, rw) in enumerate(dots):
                if bits & (1 << n):
                    dx = px + round(cw * (0.27 + 0.46 * col))
                    dy = py + round(ch * (0.125 + 0.25 * rw))
                    draw.ellipse([dx - r, dy - r, dx + r - 1, dy + r - 1], fill=fg)
            return True
        return False

    def block(self, draw, c, px, py, x1, y1, fg, bg) -> bool:
        cw, ch = self.cw, self.ch

        def rect(fx0, fy0, fx1, fy1, colour=fg):
            draw.rectangle(
                [px + round(fx0 * cw), py + round(fy0 * ch),
                 px + round(fx1 * cw) - 1, py + round(fy1 * ch) - 1],
                fill=colour,
            )

        o = ord(c)
        if c == "▀":
            rect(0, 0, 1, 0.5)
        elif 0x2581 <= o <= 0x2588:  # lower n/8 blocks, full block
            rect(0, 1 - (o - 0x2580) / 8, 1, 1)
        elif 0x2589 <= o <= 0x258F:  # left n/8 blocks
            rect(0, 0, (0x2590 - o) / 8, 1)
        elif c == "▐":
            rect(0.5, 0, 1, 1)
        elif c in "░▒▓":
            share = {"░": 0.25, "▒": 0.5, "▓": 0.75}[c]
            mix = tuple(round(b + (f - b) * share) for f, b in zip(fg, bg))
            draw.rectangle([px, py, x1, y1], fill=mix)
        elif c == "▔":
            rect(0, 0, 1, 1 / 8)
        elif c == "▕":
            rect(7 / 8, 0, 1, 1)
        else:  # quadrants U+2596..U+259F
            quads = {
                "▖": "0010", "▗": "0001", "▘": "1000", "▙": "1011", "▚": "1001",
                "▛": "1110", "▜": "1101", "▝": "0100", "▞": "0110", "▟": "0111",
            }.get(c)
            if quads is None:
                return False
            for i, on in enumerate(quads):
                if on == "1":
                    qx, qy = (i % 2) * 0.5, (i // 2) * 0.5
                    rect(qx, qy, qx + 0.5, qy + 0.5)
        return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input", help="captured screen with ANSI escapes, or - for stdin")
    ap.add_argument("output", help="PNG file to write")
    ap.add_argument("--cols", type=int, help="terminal width in cells (default: widest line)")
    ap.add_argument("--rows", type=int, help="terminal height in rows (default: lines read)")
    ap.add_argument("--font-size", type=int, default=15)
    ap.add_argument("--padding", type=int, default=12)
    args = ap.parse_args(argv)
    data = sys.stdin.buffer.read() if args.input == "-" else Path(args.input).read_bytes()
    rows = parse(data.decode("utf-8", errors="replace"))
    img = Renderer(args.font_size, args.padding).render(rows, args.cols, args.rows)
    img.save(args.output, optimize=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
