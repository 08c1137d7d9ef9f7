"""Just enough PDF reading for the report tests: the page sizes and the text of a PDF that
Chromium printed (its content streams are Flate-compressed, its fonts Type 0 with a
ToUnicode map, its text shown as hex glyph strings). Not a general PDF parser."""

from __future__ import annotations

import re
import unicodedata
import zlib

_OBJECT = re.compile(rb"(\d+) 0 obj(.*?)endobj", re.S)
_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.S)
_MEDIABOX = re.compile(rb"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*\]")
_TYPE_PAGE = re.compile(rb"/Type\s*/Page\b(?!s)")


def _objects(data: bytes) -> dict[int, tuple[bytes, bytes | None]]:
    """Each object's dictionary text and its decompressed stream (None without one)."""
    found = {}
    for match in _OBJECT.finditer(data):
        number, body = int(match.group(1)), match.group(2)
        stream = _STREAM.search(body)
        content = None
        head = body
        if stream:
            head = body[: stream.start()]
            raw = stream.group(1)
            content = zlib.decompress(raw) if b"/FlateDecode" in head else raw
        found[number] = (head, content)
    return found


def page_sizes(data: bytes) -> list[tuple[float, float]]:
    """(width, height) in points of each page."""
    sizes = []
    for head, _ in _objects(data).values():
        if _TYPE_PAGE.search(head):
            box = _MEDIABOX.search(head)
            if box:
                x0, y0, x1, y1 = (float(v) for v in box.groups())
                sizes.append((x1 - x0, y1 - y0))
    return sizes


def _cmap(content: bytes) -> dict[bytes, str]:
    """A ToUnicode CMap's glyph code → text."""
    table: dict[bytes, str] = {}

    def text(hexes: bytes) -> str:
        raw = bytes.fromhex(hexes.decode())
        return raw.decode("utf-16-be", errors="replace")

    for block in re.findall(rb"beginbfchar(.*?)endbfchar", content, re.S):
        for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            table[bytes.fromhex(src.decode())] = text(dst)
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", content, re.S):
        for lo, hi, dst in re.findall(
            rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block
        ):
            start, end = int(lo, 16), int(hi, 16)
            first = int(dst, 16)
            width = len(lo) // 2
            for offset in range(end - start + 1):
                code = (start + offset).to_bytes(width, "big")
                table[code] = chr(first + offset)
    return table


def text(data: bytes) -> str:
    """The text of every page, in drawing order; words of one line may run together, so
    tests look for words rather than whole sentences."""
    objects = _objects(data)
    maps: dict[int, dict[bytes, str]] = {}
    for number, (head, content) in objects.items():
        if (
            content is not None
            and b"beginbfchar" in content
            or (content is not None and b"beginbfrange" in content)
        ):
            maps[number] = _cmap(content)
    # font object → its ToUnicode map; resource name → font object
    font_map: dict[int, dict[bytes, str]] = {}
    for number, (head, _) in objects.items():
        found = re.search(rb"/ToUnicode\s+(\d+)\s+0\s+R", head)
        if found and int(found.group(1)) in maps:
            font_map[number] = maps[int(found.group(1))]
    names: dict[bytes, int] = {}
    for head, _ in objects.values():
        for block in re.findall(rb"/Font\s*<<(.*?)>>", head, re.S):
            for name, ref in re.findall(rb"/([\w.+-]+)\s+(\d+)\s+0\s+R", block):
                names[name] = int(ref)
    pieces: list[str] = []
    for head, content in objects.values():
        if content is None or b"Tf" not in content:
            continue
        current: dict[bytes, str] = {}
        for token in re.finditer(rb"/([\w.+-]+)\s+[\d.]+\s+Tf|<([0-9A-Fa-f]*)>|\)|(ET)", content):
            if token.group(1):
                current = font_map.get(names.get(token.group(1), -1), {})
            elif token.group(2) is not None and current:
                raw = bytes.fromhex(token.group(2).decode())
                width = len(next(iter(current))) if current else 2
                pieces.append(
                    "".join(current.get(raw[i : i + width], "") for i in range(0, len(raw), width))
                )
            elif token.group(3):
                pieces.append(" ")
    # NFKC: the ligatures Chromium draws (ﬁ, ﬀ) as their letters
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", "".join(pieces)))
