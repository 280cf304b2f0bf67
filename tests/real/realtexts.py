"""Deterministic texts for the real-model tests, from text already on the machine.

English comes from the pinned Python environment's package descriptions
(*.dist-info/METADATA: the same bytes wherever the environment is made from
python/requirements/test.txt) and Debian's /usr/share/common-licenses (base-files),
split into sentences. Other languages come from Debian's message catalogs
(/usr/share/locale/*/LC_MESSAGES/*.mo, which vary with the installed packages) plus
the hand-written lines below, which are always there. Every choice is drawn from a
seeded random.Random over sorted inputs, so one machine always gets the same texts.
"""
import gettext
import glob
import os
import random
import re
import sys

HAND_WRITTEN = [
    "Hi", "OK.", "Thanks!", "Hello, world!", "A man is eating food.",
    "The quick brown fox jumps over the lazy dog.",
    "東京は日本の首都です 🙂 café",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Le renard brun rapide saute par-dessus le chien paresseux.",
    "El rápido zorro marrón salta sobre el perro perezoso.",
    "Быстрая коричневая лиса прыгает через ленивую собаку.",
    "敏捷的棕色狐狸跳过了懒狗。",
    "素早い茶色の狐がのろまな犬を飛び越える。",
    "빠른 갈색 여우가 게으른 개를 뛰어넘는다.",
    "الثعلب البني السريع يقفز فوق الكلب الكسول.",
    "तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है।",
    "สุนัขจิ้งจอกสีน้ำตาลกระโดดข้ามสุนัขขี้เกียจ",
    "Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο.",
    "השועל החום המהיר קופץ מעל הכלב העצלן.",
    "Szybki brązowy lis przeskakuje nad leniwym psem.",
    "Hızlı kahverengi tilki tembel köpeğin üzerinden atlar.",
    "Con cáo nâu nhanh nhẹn nhảy qua con chó lười.",
    "Mbweha mwepesi wa kahawia anaruka juu ya mbwa mvivu.",
    "email me at jane.doe@example.org or visit https://example.com/a?b=1&c=2#frag",
    "x = [i ** 2 for i in range(10) if i % 3 == 0]  # squares",
    "3.14159 2,718 1e-9 -42 +7 0x1F 1,000,000.00 $19.99 €5 ¥300",
    "🙂🙃😉 👩‍💻 🇯🇵 ❤️‍🔥 🤖 ✨",
    "Ångström, naïve, façade, coöperate, résumé, jalapeño, Øresund",
    "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ and ｈａｌｆ ﾊﾝｶｸ カタカナ",
    "can't won't shouldn't y'all o'clock rock'n'roll",
    "C++ C# F# .NET node.js std::vector<int> a->b a=>b a!=b",
    "   leading and trailing spaces   ",
    "tab\tseparated\tvalues and a\nnew line",
    "UPPER CASE SHOUTING TEXT WITH NUMBERS 12345",
    "Pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism",
    "Was it a car or a cat I saw? — maybe; maybe not… «quoted» “curly” ‘single’",
]


def _python_env_root():
    # .../lib/python3.X/site-packages of the interpreter running the test.
    for p in sys.path:
        if p.endswith("site-packages") and os.path.isdir(p):
            return p
    raise RuntimeError("no site-packages on sys.path")


def english_documents():
    """(name, text) pairs, sorted: package descriptions, then licenses."""
    docs = []
    for path in sorted(glob.glob(os.path.join(_python_env_root(), "*.dist-info", "METADATA"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        # The description follows the headers' blank line.
        docs.append((os.path.basename(os.path.dirname(path)), text.partition("\n\n")[2]))
    seen = set()
    for path in sorted(glob.glob("/usr/share/common-licenses/*")):
        real = os.path.realpath(path)
        if real in seen or not os.path.isfile(real):
            continue
        seen.add(real)
        with open(real, encoding="utf-8", errors="replace") as f:
            docs.append((os.path.basename(path), f.read()))
    return docs


_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[A-Z])")


def english_sentences():
    """Distinct sentences of 3..80 words with some letters, in document order."""
    out, seen = [], set()
    for _, text in english_documents():
        for para in re.split(r"\n\s*\n", text):
            para = " ".join(para.split())
            for s in _SPLIT.split(para):
                words = s.split()
                if not 3 <= len(words) <= 80 or sum(c.isalpha() for c in s) < 10:
                    continue
                if s not in seen:
                    seen.add(s)
                    out.append(s)
    return out


def catalog_strings(limit, seed=7):
    """Up to `limit` translated messages (not English) from the .mo catalogs,
    spread over languages."""
    by_lang = {}
    rnd = random.Random(seed)
    paths = [p for p in sorted(glob.glob("/usr/share/locale/*/LC_MESSAGES/*.mo"))
             if not p.split("/")[4].startswith("en")]
    for path in sorted(rnd.sample(paths, min(len(paths), 60))):  # reading them all is slow
        lang = path.split("/")[4]
        try:
            with open(path, "rb") as f:
                cat = gettext.GNUTranslations(f)._catalog
        except Exception:  # a catalog Python cannot read is simply not used
            continue
        for k, v in cat.items():
            if isinstance(k, str) and k and isinstance(v, str) and v != k and len(v) >= 20:
                by_lang.setdefault(lang, set()).add(" ".join(v.split()))
    pools = [sorted(by_lang[l]) for l in sorted(by_lang)]
    for p in pools:
        rnd.shuffle(p)
    out = []
    while len(out) < limit and any(pools):
        for p in pools:
            if p and len(out) < limit:
                out.append(p.pop())
    return out


def fidelity_texts(n_english=1000, n_catalog=120, seed=12):
    """English texts of 2..400 words (log2 of the length skewed short: many short
    ones, about one in ten over the model's 256 tokens), joined from consecutive sentences, then the hand-written
    lines and catalog messages."""
    sents = english_sentences()
    rnd = random.Random(seed)
    texts = []
    for _ in range(n_english):
        target = int(round(2 ** (1 + 7.65 * rnd.random() ** 2)))  # 2..400 words
        i = rnd.randrange(len(sents))
        words = []
        while len(words) < target:
            words += sents[i % len(sents)].split()
            i += 1
        texts.append(" ".join(words[:target]))
    return texts + HAND_WRITTEN + catalog_strings(n_catalog)


def _perturb(sentence, rnd):
    words = sentence.split()
    keep = [w for w in words if rnd.random() > 0.3] or words[:1]
    if len(keep) > 3:
        j = rnd.randrange(len(keep) - 1)
        keep[j], keep[j + 1] = keep[j + 1], keep[j]
    return " ".join(keep)


def retrieval_set(n_corpus=5000, n_queries=100, seed=5):
    """(corpus, queries): distinct sentences of 5..40 words, mostly letters (prose,
    not code); half the queries
    are held-out sentences, half perturbed corpus sentences (30% of the words
    dropped, two swapped)."""
    sents = [s for s in english_sentences()
             if 5 <= len(s.split()) <= 40 and len(s) <= 300
             and sum(c.isalpha() or c == " " for c in s) >= 0.8 * len(s)]
    rnd = random.Random(seed)
    rnd.shuffle(sents)
    held = n_queries // 2
    if len(sents) < n_corpus + held:
        raise RuntimeError("only %d sentences for a %d-sentence corpus" % (len(sents), n_corpus))
    corpus = sents[:n_corpus]
    queries = sents[n_corpus:n_corpus + held]
    queries += [_perturb(corpus[rnd.randrange(n_corpus)], rnd) for _ in range(n_queries - held)]
    return corpus, queries


if __name__ == "__main__":
    s = english_sentences()
    print(len(s), "sentences;", len(fidelity_texts()), "fidelity texts;",
          len(catalog_strings(10 ** 6)), "catalog strings")
