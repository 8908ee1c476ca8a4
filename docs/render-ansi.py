#!/usr/bin/env python3
"""Renders a terminal screen captured with `tmux capture-pane -e -p` (text
with ANSI SGR colour codes) to a PNG, cell by cell, in a monospace font.

    render-ansi.py SCREEN.ansi OUT.png

Used by docs/desk-screenshot.sh; needs Pillow.
"""

import re
import sys

from PIL import Image, ImageDraw, ImageFont

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"
FONT_BOLD = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
SIZE = 16
FG, BG = (229, 229, 229), (24, 24, 24)
# xterm's 16 colours.
PALETTE = [
    (0, 0, 0), (205, 0, 0), (0, 205, 0), (205, 205, 0),
    (0, 0, 238), (205, 0, 205), (0, 205, 205), (229, 229, 229),
    (127, 127, 127), (255, 0, 0), (0, 255, 0), (255, 255, 0),
    (92, 92, 255), (255, 0, 255), (0, 255, 255), (255, 255, 255),
]


def color256(n):
    if n < 16:
        return PALETTE[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return (steps[n // 36], steps[n // 6 % 6], steps[n % 6])
    v = 8 + (n - 232) * 10
    return (v, v, v)


class Pen:
    def __init__(self):
        self.reset()

    def reset(self):
        self.fg = None
        self.bg = None
        self.bold = False
        self.reverse = False

    def sgr(self, params):
        codes = [int(p) if p else 0 for p in params.split(";")] if params else [0]
        i = 0
        while i < len(codes):
            c = codes[i]
            if c == 0:
                self.reset()
            elif c == 1:
                self.bold = True
            elif c == 22:
                self.bold = False
            elif c == 7:
                self.reverse = True
            elif c == 27:
                self.reverse = False
            elif 30 <= c <= 37:
                self.fg = PALETTE[c - 30]
            elif 90 <= c <= 97:
                self.fg = PALETTE[c - 90 + 8]
            elif c == 39:
                self.fg = None
            elif 40 <= c <= 47:
                self.bg = PALETTE[c - 40]
            elif 100 <= c <= 107:
                self.bg = PALETTE[c - 100 + 8]
            elif c == 49:
                self.bg = None
            elif c in (38, 48) and i + 1 < len(codes):
                if codes[i + 1] == 5 and i + 2 < len(codes):
                    rgb = color256(codes[i + 2])
                    i += 2
                elif codes[i + 1] == 2 and i + 4 < len(codes):
                    rgb = tuple(codes[i + 2:i + 5])
                    i += 4
                else:
                    rgb = None
                if c == 38:
                    self.fg = rgb
                else:
                    self.bg = rgb
            i += 1

    def colours(self):
        fg, bg = self.fg or FG, self.bg or BG
        return (bg, fg) if self.reverse else (fg, bg)


def cells(text):
    """Yields (row, column, char, fg, bg, bold) for every cell."""
    pen = Pen()
    token = re.compile(r"\x1b\[([0-9;]*)([A-Za-z])|\x1b[()][A-Za-z0-9]|(.)", re.S)
    for row, line in enumerate(text.rstrip("\n").split("\n")):
        col = 0
        for m in token.finditer(line):
            if m.group(2) == "m":
                pen.sgr(m.group(1))
            elif m.group(3) is not None:
                fg, bg = pen.colours()
                yield row, col, m.group(3), fg, bg, pen.bold
                col += 1


def main():
    src, out = sys.argv[1], sys.argv[2]
    text = open(src, encoding="utf-8").read()
    font = ImageFont.truetype(FONT, SIZE)
    bold = ImageFont.truetype(FONT_BOLD, SIZE)
    left, top, right, bottom = font.getbbox("M")
    cw = round(font.getlength("M"))
    ch = round(SIZE * 1.3)
    grid = list(cells(text))
    rows = max(r for r, *_ in grid) + 1
    cols = max(max(c for _, c, *_ in grid) + 1, 100)
    pad = 12
    img = Image.new("RGB", (cols * cw + 2 * pad, rows * ch + 2 * pad), BG)
    draw = ImageDraw.Draw(img)
    for r, c, char, fg, bg, is_bold in grid:
        x, y = pad + c * cw, pad + r * ch
        draw.rectangle([x, y, x + cw - 1, y + ch - 1], fill=bg)
        if char != " ":
            draw.text((x, y + (ch - SIZE) // 2), char, font=bold if is_bold else font, fill=fg)
    img.save(out, optimize=True)


if __name__ == "__main__":
    main()
