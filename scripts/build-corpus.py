#!/usr/bin/env python3
"""Builds a large, varied text corpus from what a Debian machine already has, for
checking floe's tokenizer against Hugging Face's `tokenizers` line by line.

Sources (each optional; whatever exists is mined):
  - translated message catalogs, /usr/share/locale/*/LC_MESSAGES/*.mo (the GNU .mo
    format parsed here), every locale: Latin with accents, Cyrillic, Greek, CJK,
    Arabic, Hebrew, Devanagari, Thai, ...
  - documentation: /usr/share/common-licenses, /usr/share/doc (plain and .gz), man
    pages (.gz, troff as it is)
  - source code: /usr/include headers, the Python standard library
  - synthetic lines: URLs, e-mail, numbers, emoji (ZWJ, skin tones, flags, keycaps),
    combining marks, control characters and odd whitespace, long words around
    WordPiece's 100-character limit, punctuation only, special-token look-alikes, and
    a sweep over every code point of planes 0, 1 and 14 (sampled elsewhere) so that
    Unicode table differences show up
  - long lines (whole licenses, joined paragraphs: thousands of tokens) so that
    truncation is exercised.

Deterministic: inputs are read in sorted order and sampled with a fixed seed, so the
same machine gives the same corpus. Output: JSON lines, one JSON string per text (so
texts may hold newlines and any control character). Standard library only.

Usage: build-corpus.py OUT.jsonl [--max-lines N]
Prints lines, bytes and the number of lines per script (from Unicode character
names) to stderr.
"""
import argparse
import collections
import glob
import gzip
import json
import os
import random
import struct
import sys
import time
import unicodedata

SEED = 20261201


def parse_mo(data):
    """Translated strings of a GNU .mo file (plural forms split), header dropped."""
    if len(data) < 28:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    if magic == 0x950412DE:
        end = "<"
    elif magic == 0xDE120495:
        end = ">"
    else:
        return []
    _rev, n, _orig, trans = struct.unpack(end + "4I", data[4:20])
    out = []
    for i in range(n):
        off = trans + 8 * i
        if off + 8 > len(data):
            break
        length, start = struct.unpack(end + "2I", data[off:off + 8])
        raw = data[start:start + length]
        for part in raw.split(b"\0"):
            try:
                s = part.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if s and not s.startswith("Project-Id-Version:"):
                out.append(s)
    return out


def read_text(path):
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                raw = f.read(1 << 20)
        else:
            with open(path, "rb") as f:
                raw = f.read(1 << 20)
    except OSError:
        return None
    if b"\0" in raw[:4096]:
        return None  # binary
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def files(pattern, recursive=False):
    return sorted(p for p in glob.glob(pattern, recursive=recursive) if os.path.isfile(p))


def catalogs(rng, per_locale):
    """Up to per_locale translated strings from each locale, plus one long line each."""
    lines = []
    locales = sorted(os.listdir("/usr/share/locale")) if os.path.isdir("/usr/share/locale") else []
    for loc in locales:
        strings = []
        for mo in files("/usr/share/locale/%s/LC_MESSAGES/*.mo" % loc):
            with open(mo, "rb") as f:
                strings.extend(parse_mo(f.read()))
        strings = sorted(set(strings))
        if not strings:
            continue
        rng.shuffle(strings)
        lines.extend(strings[:per_locale])
        # One long line per locale (several thousand characters) for truncation.
        lines.append(" ".join(strings[per_locale:per_locale + 200]))
    return lines


def paragraphs(text):
    paras, cur = [], []
    for line in text.split("\n"):
        if line.strip():
            cur.append(line)
        elif cur:
            paras.append("\n".join(cur))
            cur = []
    if cur:
        paras.append("\n".join(cur))
    return paras


def documents(rng, budget):
    """Paragraphs (with their newlines) and whole files from docs, man pages, code."""
    groups = [
        (files("/usr/share/common-licenses/*"), 1.0),
        (files("/usr/share/doc/**/*", recursive=True), 0.08),
        (files("/usr/share/man/man*/*.gz") + files("/usr/share/man/*/man*/*.gz"), 0.01),
        (files("/usr/include/**/*.h", recursive=True), 0.01),
        (files("/usr/lib/python3*/**/*.py", recursive=True), 0.02),
    ]
    lines = []
    for paths, frac in groups:
        picked = [p for p in paths if rng.random() < frac]
        for p in picked:
            text = read_text(p)
            if not text:
                continue
            paras = [para[:3000] for para in paragraphs(text)]
            rng.shuffle(paras)
            lines.extend(paras[:8])
            if rng.random() < 0.03:
                lines.append(text[:20000])  # a whole file: thousands of tokens
        if len(lines) > budget:
            break
    return lines


EMOJI = [
    "\U0001F600", "\U0001F44D", "\U0001F44D\U0001F3FD", "\U0001F469\u200D\U0001F4BB",
    "\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466",
    "\U0001F3F3\uFE0F\u200D\U0001F308", "\U0001F1E9\U0001F1EA", "\U0001F1EF\U0001F1F5",
    "\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F",
    "1\uFE0F\u20E3", "#\uFE0F\u20E3", "\u2764\uFE0F", "\u263A", "\U0001F972", "\U0001FAE0",
    "\U0001FAF6\U0001F3FF", "\U0001F9D1\U0001F3FB\u200D\U0001F91D\u200D\U0001F9D1\U0001F3FF",
    "\U0001F408\u200D\u2B1B", "\u2122", "\u00A9", "\U0001F4A9", "\U0001F926\U0001F3FC\u200D\u2642\uFE0F",
]
SPACES = ["\t", "\n", "\r", "\x0b", "\x0c", "\x85", "\xa0", "\u1680", "\u2000", "\u2005",
          "\u200a", "\u2028", "\u2029", "\u202f", "\u205f", "\u3000", "\u200b", "\u200c",
          "\u200d", "\u2060", "\ufeff", "\u180e", "\u00ad", "\u061c", "\u200e", "\u200f"]
CONTROLS = [chr(c) for c in list(range(0, 32)) + list(range(127, 160))]
SPECIALS = ["[CLS]", "[SEP]", "[UNK]", "[MASK]", "[PAD]", "[cls]", "[ SEP ]", "[SEP", "SEP]"]
WORDS = ["the", "naïve", "café", "résumé", "Ångström", "straße", "İstanbul", "ΣΊΣΥΦΟΣ",
         "ǅemal", "ﬁnance", "\u212b", "\u212a", "Москва", "東京", "서울", "नमस्ते", "สวัสดี",
         "مرحبا", "שָׁלוֹם", "Tiếng Việt", "ሰላም", "ᚠᚢᚦ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "ｆｕｌｌｗｉｄｔｈ", "ｶﾀｶﾅ"]


def synthetic(rng, n):
    lines = []
    tlds = ["com", "org", "de", "co.uk", "io", "xn--p1ai", "рф", "中国"]
    for i in range(n):
        kind = i % 14
        if kind == 0:
            host = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz-") for _ in range(rng.randint(3, 12)))
            lines.append("see https://%s.%s/path/%d?q=a%%20b&x=%d#frag or http://[::1]:8080/x_y"
                         % (host.strip("-") or "a", rng.choice(tlds), rng.randint(0, 99999), i))
        elif kind == 1:
            user = "".join(rng.choice("abcdefghij._+0123456789") for _ in range(rng.randint(1, 16)))
            lines.append("mail <%s@example.%s>, cc: José.Núñez+tag@münchen.de" % (user, rng.choice(tlds)))
        elif kind == 2:
            lines.append(" ".join([str(rng.randint(-10**12, 10**12)), "%.6g" % rng.uniform(-1e9, 1e9),
                                   "%.3e" % rng.random(), "1,234,567.89", "3.14159", "0x%X" % rng.getrandbits(48),
                                   "+1 (555) 010-%04d" % rng.randint(0, 9999), "2026-12-01T09:30:00Z",
                                   "192.168.%d.%d" % (rng.randint(0, 255), rng.randint(0, 255)),
                                   "٣٤٥", "१२३", "๑๒๓", "①②③", "½", "²³", "Ⅻ"]))
        elif kind == 3:
            lines.append(" ".join(rng.choice(EMOJI) for _ in range(rng.randint(1, 12))) +
                         "".join(rng.choice(EMOJI) for _ in range(rng.randint(0, 6))))
        elif kind == 4:  # combining marks, stacked
            base = rng.choice("aeiouAEIOUnxyz" + "абвгд" + "αβγ")
            marks = "".join(chr(rng.randint(0x300, 0x36F)) for _ in range(rng.randint(1, 8)))
            lines.append(base + marks + " " + rng.choice(WORDS) + "\u0301\u0323 e\u0308\u0304 \u1100\u1161\u11A8")
        elif kind == 5:  # control characters and odd whitespace between words
            parts = []
            for _ in range(rng.randint(2, 10)):
                parts.append(rng.choice(WORDS))
                parts.append("".join(rng.choice(SPACES + CONTROLS) for _ in range(rng.randint(1, 3))))
            lines.append("".join(parts))
        elif kind == 6:  # long words around WordPiece's 100-character limit
            length = rng.choice([99, 100, 101, 150, 300, 1000, 5000])
            alphabet = rng.choice(["abcdefghij", "é", "東京", "ab\u0301", "x1", "Ａ"])
            word = (alphabet * length)[:length]
            lines.append("word " + word + " end")
        elif kind == 7:  # punctuation only
            punct = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~¡¿«»“”„‘’‹›—–…·•§¶†‡‰′″※、。「」『』【】〈〉《》！？，：；（）⸮؟،؛۔।॥๏๚"
            lines.append("".join(rng.choice(punct) for _ in range(rng.randint(1, 60))))
        elif kind == 8:  # special-token look-alikes in text
            lines.append(" ".join(rng.choice(SPECIALS + WORDS) for _ in range(rng.randint(1, 10))) +
                         rng.choice(SPECIALS) + "x")
        elif kind == 9:  # random code points, any plane, as one word and spaced
            cps = []
            for _ in range(rng.randint(1, 24)):
                plane = rng.choice([0, 0, 0, 1, 1, 2, 3, 14, 15, 16])
                c = (plane << 16) | rng.getrandbits(16)
                if 0xD800 <= c <= 0xDFFF:
                    c = 0xFFFD
                cps.append(chr(c))
            lines.append("".join(cps) + " " + " ".join(cps))
        elif kind == 10:  # mixed scripts in one word
            lines.append("".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))))
        elif kind == 11:  # code-ish
            lines.append("for (int i = 0; i < n; ++i) { a[i] += b[i] * %d; }  // ok? #%d" % (i, i))
        elif kind == 12:  # letters whose lowercase or decomposition is special
            lines.append("İI ıi Σσς ẞß Ǆǅǆ ΐ ﬃ ῼ Å Ω K ℌ ⓐⒶ %s" % rng.choice(WORDS).upper())
        else:  # CJK boundary code points
            edges = [0x2E80, 0x2F00, 0x3005, 0x3400, 0x4DBF, 0x4DC0, 0x4E00, 0x9FFF, 0xA000,
                     0xF900, 0xFAFF, 0xFB00, 0x20000, 0x2A6DF, 0x2A6E0, 0x2A700, 0x2B73F,
                     0x2B740, 0x2B81F, 0x2B820, 0x2B91F, 0x2B920, 0x2CEAF, 0x2CEB0, 0x2EBE0,
                     0x2F800, 0x2FA1F, 0x30000, 0x31350]
            lines.append("漢字" + "".join(chr(rng.choice(edges)) for _ in range(8)) + "かな")
    return lines


def sweep(step_far):
    """Every code point of planes 0, 1 and 14 (every step_far-th elsewhere), 64 per
    line: spaced, then joined as one word, then after a base letter."""
    cps = [c for c in range(0x80, 0x20000) if not 0xD800 <= c <= 0xDFFF]
    cps += list(range(0x20000, 0x40000, step_far)) + list(range(0xE0000, 0xE1000))
    cps += list(range(0xF0000, 0x110000, step_far * 4))
    lines = []
    for i in range(0, len(cps), 64):
        chunk = [chr(c) for c in cps[i:i + 64]]
        lines.append(" ".join(chunk))
        if i % (64 * 8) == 0:
            lines.append("".join(chunk))
            lines.append(" ".join("a" + c for c in chunk))
    return lines


TWO_WORD_SCRIPTS = {"OLD", "NEW", "TAI", "LINEAR", "MEETEI", "CAUCASIAN", "CANADIAN", "MASARAM",
                    "GUNJALA", "HANIFI", "ZANABAZAR", "PAHAWH", "NYIAKENG", "SORA", "WARANG"}
NOT_SCRIPTS = {"MATHEMATICAL", "MODIFIER", "COMBINING", "VARIATION", "FULLWIDTH", "HALFWIDTH",
               "SQUARED", "CIRCLED", "PARENTHESIZED", "NEGATIVE", "BLACK-LETTER", "SCRIPT",
               "DOUBLE-STRUCK", "KELVIN", "ANGSTROM", "OHM", "FEMININE", "MASCULINE", "MICRO"}


def script_of(ch):
    """The script of a letter or mark, from its Unicode name's first word(s) ('LATIN
    SMALL LETTER A' -> LATIN, 'CJK UNIFIED IDEOGRAPH-4E00' -> HAN); None otherwise."""
    if unicodedata.category(ch)[0] not in "LM":
        return None
    words = unicodedata.name(ch, "").split()
    if len(words) < 2 or words[0] in NOT_SCRIPTS:
        return None
    if words[0] in ("CJK", "IDEOGRAPHIC", "KANGXI"):
        return "HAN"
    if words[0] in TWO_WORD_SCRIPTS:
        return " ".join(words[:2])
    return words[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--per-locale", type=int, default=120)
    ap.add_argument("--synthetic", type=int, default=6000)
    args = ap.parse_args()
    rng = random.Random(SEED)
    groups = []
    for name, make in [("catalogs", lambda: catalogs(rng, args.per_locale)),
                       ("documents", lambda: documents(rng, 12000)),
                       ("synthetic", lambda: synthetic(rng, args.synthetic)),
                       ("sweep", lambda: sweep(7))]:
        t = time.time()
        groups.append((name, make()))
        print("%s: %.1f s" % (name, time.time() - t), file=sys.stderr)
    total_lines = total_bytes = 0
    scripts = collections.Counter()
    with open(args.out, "w", encoding="utf-8") as f:
        for name, lines in groups:
            nbytes = 0
            for line in lines:
                f.write(json.dumps(line, ensure_ascii=False) + "\n")
                nbytes += len(line.encode("utf-8", "surrogatepass"))
                if name != "sweep":
                    scripts.update({s for s in map(script_of, line) if s})
            print("%-10s %7d lines %10d bytes" % (name, len(lines), nbytes), file=sys.stderr)
            total_lines += len(lines)
            total_bytes += nbytes
    print("total      %7d lines %10d bytes" % (total_lines, total_bytes), file=sys.stderr)
    common = [(s, n) for s, n in scripts.most_common() if n >= 3]
    print("scripts (lines with >= 1 letter of it, sweep excluded; %d scripts in >= 3 lines): %s"
          % (len(common), ", ".join("%s %d" % sn for sn in common)), file=sys.stderr)


if __name__ == "__main__":
    main()
