#!/usr/bin/env python3
"""Write the CLIP tokenizer fixtures: reference token ids from transformers' CLIPTokenizer.

Run by hand after scripts/make_clip_vocab.py; the outputs are committed under
Tests/EaselDiffusionTests/Fixtures/tokenizer/:

  sd15-a/   special_tokens_map.json + tokenizer_config.json as published SD 1.x checkpoints ship them
            (runwayml/stable-diffusion-v1-5 layout). Form (a) also needs vocab.json + merges.txt; they
            are byte-for-byte Easel's built-in Resources/clip files, so the test copies those in rather
            than committing a second 1.5 MB copy.
  sd2-a/    the same for SD 2.x (stabilityai/stable-diffusion-2-1 layout): tokenizer_config.json says
            pad "<|endoftext|>", special_tokens_map.json says pad "!" — and the latter wins.
  sdxl2-a/  form (a) as transformers 4.3x saved SDXL's tokenizer_2 (stabilityai/stable-diffusion-xl-base-1.0):
            tokenizer_config.json carries `added_tokens_decoder` ("!" 0, "<|startoftext|>" normalised,
            "<|endoftext|>" not), which makes transformers 5 ignore special_tokens_map.json.
  sd15-b/   tokenizer.json + tokenizer_config.json exactly as transformers 5 `save_pretrained` writes
            them (merges as ["a", "b"] pairs, indented; ~3.6 MB).
  sd2-b/    the same saved from the SD 2.x tokenizer, re-serialised compactly with merges as "a b"
            strings (the older tokenizers format): JSON-equal in every other field, 1.5 MB instead of
            3.6 MB, and it exercises the second merges format.
  prompts.json      the prompts and, for SD 1.x, SD 2.x and SDXL's tokenizer_2, the ids padded/truncated to 77 and the
                    untruncated length. Form (a) and form (b) gave identical ids for every prompt
                    (asserted here), so each config's ids are stored once.
  unicode.json      onig's (tokenizers') \\p{L}, \\p{N} and \\s as code-point ranges, and tokenizers'
                    per-character Lowercase and NFC mappings where they change the character, so the
                    Swift tests can compare the whole code space.

The reference is transformers 5.x `CLIPTokenizer`: in v5 it is the only CLIP tokenizer, backed by
the Rust `tokenizers` library (the Python/ftfy "slow" tokenizer of v4 is gone). Its pipeline:
special tokens split out (before normalisation when the token is `normalized: false`, after when
`true`), NFC -> `\\s+` to " " -> per-character lowercase, Split on CLIP's pattern (onig regex),
ByteLevel (GPT-2 pattern again, then byte-to-unicode), BPE with '</w>'. ftfy and html.unescape
are NOT applied; this script checks that blocking ftfy changes nothing.

Usage: python3 scripts/make_tokenizer_fixtures.py
"""

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOCAB_DIR = os.path.join(REPO, "Sources", "EaselDiffusion", "Resources", "clip")
OUT = os.path.join(REPO, "Tests", "EaselDiffusionTests", "Fixtures", "tokenizer")

S, E = "<|startoftext|>", "<|endoftext|>"


def added(content, normalized=True):
    return {"content": content, "lstrip": False, "normalized": normalized, "rstrip": False,
            "single_word": False}


def typed(token):
    return dict(token, __type="AddedToken")


def sd_config(name_or_path):
    """tokenizer_config.json as published SD checkpoints have it (transformers 4.2x era)."""
    return {
        "add_prefix_space": False,
        "bos_token": typed(added(S)),
        "do_lower_case": True,
        "eos_token": typed(added(E)),
        "errors": "replace",
        "model_max_length": 77,
        "name_or_path": name_or_path,
        "pad_token": E,
        "special_tokens_map_file": "./special_tokens_map.json",
        "tokenizer_class": "CLIPTokenizer",
        "unk_token": typed(added(E)),
    }


def write_json(path, obj, **kw):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, **kw)
        f.write("\n")


def write_form_a(folder, pad):
    os.makedirs(folder, exist_ok=True)
    name = "openai/clip-vit-large-patch14" if pad == E else "stabilityai/stable-diffusion-2"
    write_json(os.path.join(folder, "tokenizer_config.json"), sd_config(name), indent=2)
    write_json(os.path.join(folder, "special_tokens_map.json"),
               {"bos_token": added(S), "eos_token": added(E), "pad_token": pad, "unk_token": added(E)},
               indent=2)


def write_sdxl2(folder):
    os.makedirs(folder, exist_ok=True)
    decoder = {"0": dict(added("!", False), special=True), "49406": dict(added(S, True), special=True),
               "49407": dict(added(E, False), special=True)}
    write_json(os.path.join(folder, "tokenizer_config.json"), {
        "add_prefix_space": False, "added_tokens_decoder": decoder, "bos_token": S,
        "clean_up_tokenization_spaces": True, "do_lower_case": True, "eos_token": E, "errors": "replace",
        "model_max_length": 77, "pad_token": "!", "tokenizer_class": "CLIPTokenizer", "unk_token": E}, indent=2)
    write_json(os.path.join(folder, "special_tokens_map.json"),
               {"bos_token": added(S, True), "eos_token": added(E, False), "pad_token": added("!", False),
                "unk_token": added(E, False)}, indent=2)


def with_vocab(config_folder, tmp):
    """A complete form (a) folder: the committed configs plus the built-in vocab/merges."""
    folder = os.path.join(tmp, os.path.basename(config_folder))
    shutil.copytree(config_folder, folder)
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(VOCAB_DIR, name), folder)
    return folder


# ----------------------------------------------------------------------------------------------
# Prompts

HAND = [
    "", " ", "   ", "\t", "\n", " \t\n\r ", "\u3000", "\u00a0", "\u2003\u2009",
    "a photo of a cat",
    "A photo of a cat",
    "A PHOTO OF A CAT",
    "an astronaut riding a horse on mars",
    "An astronaut riding a horse on Mars, 4k, trending on ArtStation",
    "portrait of a woman, oil on canvas, by Rembrandt, highly detailed, 8k uhd, dslr, soft lighting",
    "(masterpiece:1.2), (best quality), [blurry], ((ultra-detailed)), {red hair}",
    "(masterpiece:1.2), best quality, 1girl, solo, long hair, looking at viewer, smile",
    "((((extremely detailed)))), [[[low quality]]], (worst quality:1.4), (low quality:1.4)",
    "a cat AND a dog | a bird :: 2 --no text --ar 16:9",
    "lowres, bad anatomy, bad hands, text, error, missing fingers, extra digit, fewer digits, cropped",
    "cyberpunk city at night, neon lights, rain, reflections, octane render, unreal engine 5",
    "hello, world! how are you? i'm fine; thanks: really... ok?!",
    "wow!!! amazing!!!! so cool!! ! !! !!!",
    "!", "!!", "!!!", "!?", "?!", "a!b", "a!!b", "!a!", "hello!", "hello !", "! hello",
    "...", "---", "___", "***", "~~~", "@@@", "###", "$$$", "%%%", "^^^", "&&&", "|||", "\\\\", "//",
    "<>", "<<>>", "[]", "{}", "()", "(())", ":)", ":-)", ";)", ":D", "xD", "^_^", "o_O", "<3", "</3",
    "email@example.com http://example.com/path?q=1&x=2#frag",
    "C:\\Users\\me\\file.txt and /usr/local/bin",
    "price: $19.99 (20% off!) #1 @home",
    "a+b=c, 2*3=6, 10/2=5, 2^10=1024, 5-3=2, x<y>z",
    "1", "12", "123", "1234567890", "3.14159", "1,000,000", "2023-01-15", "12:30pm", "1e10", "0x1F",
    "version 1.2.3-beta+build.45", "resolution 1920x1080, 60fps, 4K, 8K, 16k",
    "1girl 2boys 3d 4k 8k uhd 35mm f/1.8 iso100",
    "\u0661\u0662\u0663 \u0967\u0968\u0969 \uff11\uff12\uff13",  # Arabic-Indic, Devanagari, fullwidth
    "\u00b2\u00b3\u00b9 \u00bd\u00bc\u00be \u2160\u2161\u216b \u2460\u2461",  # superscripts, fractions, roman, circled
    "it's", "It's", "IT'S", "don't", "DON'T", "they're", "we've", "i'm", "you'll", "he'd",
    "it 's", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "''", "'''", "'", "' s", "'S", "'Ll", "'RE",
    "rock'n'roll", "o'clock", "the dog's bone", "the dogs' bones", "'quoted'", "\"double quoted\"",
    "it\u2019s a dog\u2019s life", "\u2018single\u2019 \u201cdouble\u201d \u00abguillemets\u00bb \u201elow\u201c",
    "ma\u00f1ana", "man\u0303ana", "caf\u00e9", "cafe\u0301", "CAF\u00c9", "CAFE\u0301", "na\u00efve r\u00e9sum\u00e9",
    "\u00c5ngstr\u00f6m \u212bngstr\u00f6m A\u030angstro\u0308m", "\u1e9b\u0323 \u1e0b\u0323 \u0071\u0307\u0323",
    "Stra\u00dfe STRASSE stra\u00dfe \u1e9e", "\u0130stanbul \u0131s\u0131k ISTANBUL",
    "\u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3 \u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03cd\u03c2 \u03a3\u0391\u03a3",
    "Vi\u1ec7t Nam, ph\u1edf b\u00f2, \u0111\u1eb9p qu\u00e1",
    "\u0141\u00f3d\u017a \u017b\u00f3\u0142w \u010cesk\u00fd Krumlov \u0160koda",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u041a\u043e\u0442 \u043d\u0430 \u043a\u0440\u044b\u0448\u0435",
    "\u0401\u043b\u043a\u0430 \u0451\u0436\u0438\u043a \u0407\u0436\u0430\u043a \u0490\u0430\u043d\u043e\u043a",
    "\u732b\u306e\u5199\u771f", "\u4e00\u53ea\u53ef\u7231\u7684\u732b\uff0c\u9ad8\u6e05\uff0c\u6770\u4f5c",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8 \u30ab\u30bf\u30ab\u30ca \u3072\u3089\u304c\u306a",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8", "\u1100\u1161\u11a8 \uac01",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645", "\u0627\u0644\u0642\u0637 \u0641\u064a \u0627\u0644\u062d\u062f\u064a\u0642\u0629 \u0661\u0662",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd", "\u200f\u05e9\u05dc\u05d5\u05dd\u200e hello",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e04\u0e23\u0e31\u0e1a",
    "\u10d2\u10d0\u10db\u10d0\u10e0\u10ef\u10dd\u10d1\u10d0 \u0532\u0561\u0580\u0587",
    "\U0001f600", "\U0001f600\U0001f600\U0001f600", "a \U0001f431 cat", "fire\U0001f525emoji",
    "\U0001f44d\U0001f3fd thumbs", "\U0001f44b\U0001f3fb\U0001f44b\U0001f3ff",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 family",
    "\U0001f3f3\ufe0f\u200d\U0001f308 \U0001f3f4\u200d\u2620\ufe0f",
    "\U0001f1ef\U0001f1f5 \U0001f1fa\U0001f1f8 \U0001f1e9\U0001f1ea", "1\ufe0f\u20e3 #\ufe0f\u20e3",
    "\u2764\ufe0f \u2764 \u2665 \u2605\u2606 \u263a \u2600\ufe0f", "\U0001f9d1\u200d\U0001f680 astronaut",
    "\ufb01ne \ufb02ow \u2126 \u212a \u00b5 \u00c6sir \u0152uvre",
    "\uff28\uff45\uff4c\uff4c\uff4f \uff37\uff4f\uff52\uff4c\uff44", "\u2460 \u24b6 \u24d0 \U0001d400\U0001d41a",
    "zero\u200bwidth\u200cjoiner\u200dhere\ufeffbom", "soft\u00adhyphen", "word\u2060joiner",
    "tab\tseparated\tvalues", "new\nline\nseparated", "crlf\r\nline", "many     spaces     here",
    "  leading and trailing  ", "\u0085nel\u2028line\u2029para\u000bvt\u000cff",
    "mongolian\u180eseparator", "ogham\u1680space", "narrow\u202fnbsp", "math\u205fspace",
    "a\u0007bell\u001bescape\u007fdel", "nul\u0000char",
    "&amp; &lt; &gt; &quot; &#39; &nbsp; &copy;", "Tom &amp; Jerry", "&lt;b&gt;bold&lt;/b&gt;",
    "&amp;amp; &#x27; &#8217; &apos;", "fish &amp chips", "<b>html</b> <br/> <div class=\"x\">",
    E, S, S + E, E + E, "a " + E + " b", "a" + E + "b", "x " + S + " y", "x" + S + "y",
    "<|ENDOFTEXT|>", "<|EndOfText|>", "<|STARTOFTEXT|>", "<|StartOfText|>", "a<|ENDOFTEXT|>!!",
    "<|endoftext|>!!", "!!<|endoftext|>", "<|endoftext", "endoftext|>", "<|endoftext|", "|endoftext|>",
    "< |endoftext| >", "<|startoftext|><|endoftext|><|startoftext|>", "!" + E + "!", "<|endoftext|>'s",
    "startoftext endoftext", "<|", "|>", "<||>", "<|a|>",
    "MiXeD CaSe WoRdS", "camelCaseWords and PascalCase and snake_case and kebab-case",
    "ALLCAPS lowercase Titlecase \u01c5 \u01c8 \u01cb",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "pneumonoultramicroscopicsilicovolcanoconiosis",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "abababababababababababab",
    "zzzzzzzzzzzzzzzz qqqqqqqqqqqqqq xxxxxxxxxxxxxxxxxxxxx",
]


def long_prompts(rng):
    words = ("masterpiece best quality ultra detailed illustration beautiful girl long flowing hair "
             "standing in a field of flowers golden hour cinematic lighting bokeh depth of field "
             "award winning photograph sharp focus intricate details volumetric fog").split()
    out = [
        ", ".join(["a very detailed painting of a castle"] * 12),
        " ".join(words * 3),
        "word " * 74, "word " * 75, "word " * 76, "word " * 77, "word " * 200,
        ("a" + " a") * 80,
        "! " * 100, "!" * 300, "1" * 100, "\U0001f600" * 60,
        ", ".join(f"tag{i}" for i in range(60)),
        "(" * 40 + "masterpiece" + ")" * 40,
        "\u732b" * 100,
    ]
    for _ in range(8):
        out.append(" ".join(rng.choice(words) for _ in range(rng.randint(60, 140))))
    return out


FRAGMENTS = [
    "a photo of", "a cat", "dog", "in the style of", "Van Gogh", "4k", "8K", "HDR", "(masterpiece:1.3)",
    "[low quality]", "{detailed}", "((sharp))", "it's", "don't", "they'll", "we're", "I'M", "rock'n'roll",
    "caf\u00e9", "cafe\u0301", "na\u00efve", "\u00dcber", "\u00c5", "A\u030a", "\u0130", "\u03a3\u03a3",
    "\u732b", "\u72ac\u306e", "\ud55c\uae00", "\u0645\u0631\u062d\u0628\u0627", "\u041f\u0440\u0438\u0432\u0435\u0442",
    "\u05e9\u05dc\u05d5\u05dd", "\u0928\u092e\u0938\u094d\u0924\u0947", "\u0e44\u0e17\u0e22",
    "\U0001f600", "\U0001f44d\U0001f3fe", "\U0001f469\u200d\U0001f4bb", "\U0001f1eb\U0001f1f7", "\u2764\ufe0f",
    "&amp;", "&lt;", "&#39;", "&quot;", "!!", "?", "...", "--", "#hashtag", "@user", "$100", "50%",
    "3.5", "1024x768", "2024", "\u00bd", "\u00b2", "\u0663", "\uff15", "\u2163",
    E, S, "<|ENDOFTEXT|>", "\u2019s", "''", "`", "~", "|", "\\", "/", ":", ";", "=", "+", "*",
    "Hello", "WORLD", "MiXeD", "snake_case", "kebab-case", "x_y-z.w",
]
SEPARATORS = [" ", " ", " ", ", ", ",", "  ", "\t", "\n", " \n ", "", ".", "! ", "\u3000", "\u00a0", " | "]


def generated(rng, count):
    out = []
    for _ in range(count):
        parts = [rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 9))]
        text = ""
        for i, p in enumerate(parts):
            text += p if i == 0 else rng.choice(SEPARATORS) + p
        if rng.random() < 0.2:
            text = text.upper()
        elif rng.random() < 0.2:
            text = text.title()
        if rng.random() < 0.15:
            text = rng.choice([" ", "\t", "\n", "  "]) + text + rng.choice([" ", "\n", ""])
        out.append(text)
    return out


def all_prompts():
    rng = random.Random(1234)
    prompts = HAND + long_prompts(rng) + generated(rng, 200)
    seen, unique = set(), []
    for p in prompts:
        if p not in seen:
            seen.add(p)
            unique.append(p)
    return unique


# ----------------------------------------------------------------------------------------------
# Reference ids


def encode_all(tok, prompts):
    rows = []
    for p in prompts:
        ids = tok(p, padding="max_length", max_length=tok.model_max_length, truncation=True)["input_ids"]
        full = tok(p)["input_ids"]  # what diffusers compares against to warn about truncation
        assert len(ids) == tok.model_max_length
        rows.append((ids, len(full)))
    return rows


def ids_without_ftfy(folder, prompts):
    """Encode in a fresh interpreter where `import ftfy` fails: v5 must not depend on it."""
    code = (
        "import sys, json; sys.modules['ftfy'] = None\n"
        "from transformers import CLIPTokenizer\n"
        f"t = CLIPTokenizer.from_pretrained({folder!r})\n"
        "ps = json.load(sys.stdin)\n"
        "print(json.dumps([t(p, padding='max_length', max_length=77, truncation=True)['input_ids'] for p in ps]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(prompts), capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def save_form_b(tok, folder, compact):
    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tok.save_pretrained(tmp)
        names = sorted(os.listdir(tmp))
        assert names == ["tokenizer.json", "tokenizer_config.json"], names
        shutil.copy(os.path.join(tmp, "tokenizer_config.json"), folder)
        if not compact:
            shutil.copy(os.path.join(tmp, "tokenizer.json"), folder)
            return
        with open(os.path.join(tmp, "tokenizer.json"), encoding="utf-8") as f:
            data = json.load(f)
        original = json.loads(json.dumps(data))
        data["model"]["merges"] = [" ".join(m) for m in data["model"]["merges"]]
        with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
        # Only the merges' spelling differs from what transformers wrote.
        data["model"]["merges"] = [m.split(" ") for m in data["model"]["merges"]]
        assert data == original


# ----------------------------------------------------------------------------------------------
# Unicode tables


def ranges(flags):
    out, start = [], None
    for cp, on in enumerate(flags + [False]):
        if on and start is None:
            start = cp
        elif not on and start is not None:
            out.append([start, cp - 1])
            start = None
    return out


def unicode_tables():
    from tokenizers import Regex, normalizers

    codepoints = [cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF]
    tables = {}
    for name, pattern, marker in (("letter", r"\p{L}", "L"), ("number", r"\p{N}", "1"), ("whitespace", r"\s", " ")):
        replace = normalizers.Replace(Regex(pattern), marker)
        flags = [False] * 0x110000
        for start in range(0, 0x110000, 0x10000):
            block = [cp for cp in codepoints if start <= cp < start + 0x10000]
            text = "".join(map(chr, block))
            out = replace.normalize_str(text)
            assert len(out) == len(text)
            for cp, ch in zip(block, out):
                flags[cp] = ch == marker
        tables[name] = ranges(flags)

    lower, nfc = normalizers.Lowercase(), normalizers.NFC()
    lowercase, composed = {}, {}
    for cp in codepoints:
        ch = chr(cp)
        lo = lower.normalize_str(ch)
        if lo != ch:
            lowercase[f"{cp:X}"] = [ord(c) for c in lo]
        nf = nfc.normalize_str(ch)
        if nf != ch:
            composed[f"{cp:X}"] = [ord(c) for c in nf]
    tables["lowercase"] = lowercase
    tables["nfc"] = composed

    # For the record: how far Python's `regex` module (the v4 slow tokenizer's engine) differs.
    import regex
    for name, pattern in (("letter", r"\p{L}"), ("number", r"\p{N}"), ("whitespace", r"\s")):
        rx = regex.compile(pattern)
        ref = set()
        for lo, hi in tables[name]:
            ref.update(range(lo, hi + 1))
        diff = [cp for cp in codepoints if (rx.fullmatch(chr(cp)) is not None) != (cp in ref)]
        print(f"  regex vs onig {name}: {len(diff)} code points differ {[hex(c) for c in diff[:8]]}")
    return tables


# ----------------------------------------------------------------------------------------------


def main():
    from transformers import CLIPTokenizer
    import transformers

    transformers.logging.set_verbosity_error()
    prompts = all_prompts()
    assert len(prompts) >= 300, len(prompts)

    for d in ("sd15-a", "sd2-a", "sdxl2-a", "sd15-b", "sd2-b"):
        shutil.rmtree(os.path.join(OUT, d), ignore_errors=True)
    write_form_a(os.path.join(OUT, "sd15-a"), pad=E)
    write_form_a(os.path.join(OUT, "sd2-a"), pad="!")
    write_sdxl2(os.path.join(OUT, "sdxl2-a"))

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for config, pad in (("sd15", E), ("sd2", "!")):
            folder_a = with_vocab(os.path.join(OUT, f"{config}-a"), tmp)
            tok_a = CLIPTokenizer.from_pretrained(folder_a)
            assert type(tok_a).__name__ == "CLIPTokenizer" and tok_a.is_fast
            assert tok_a.pad_token == pad and tok_a.model_max_length == 77
            save_form_b(tok_a, os.path.join(OUT, f"{config}-b"), compact=(config == "sd2"))
            tok_b = CLIPTokenizer.from_pretrained(os.path.join(OUT, f"{config}-b"))
            rows_a, rows_b = encode_all(tok_a, prompts), encode_all(tok_b, prompts)
            for p, ra, rb in zip(prompts, rows_a, rows_b):
                assert ra == rb, f"{config}: form a and b differ for {p!r}: {ra} {rb}"
            assert ids_without_ftfy(folder_a, prompts) == [r[0] for r in rows_a], "ftfy changed ids"
            flags = {t.content: t.normalized for t in tok_a.added_tokens_decoder.values()}
            print(f"{config}: pad {tok_a.pad_token!r} ({tok_a.pad_token_id}), added tokens normalized: {flags}")
            results[config] = rows_a
        # SDXL's tokenizer_2, form (a) only: its form (b) would be sd2-b's tokenizer.json again.
        tok = CLIPTokenizer.from_pretrained(with_vocab(os.path.join(OUT, "sdxl2-a"), tmp))
        assert tok.pad_token == "!"
        print(f"sdxl2: added tokens normalized: { {t.content: t.normalized for t in tok.added_tokens_decoder.values()} }")
        results["sdxl2"] = encode_all(tok, prompts)

    cases = []
    for i, p in enumerate(prompts):
        cases.append({
            "prompt": p,
            "sd15": results["sd15"][i][0], "sd15_length": results["sd15"][i][1],
            "sd2": results["sd2"][i][0], "sd2_length": results["sd2"][i][1],
            "sdxl2": results["sdxl2"][i][0], "sdxl2_length": results["sdxl2"][i][1],
        })
    with open(os.path.join(OUT, "prompts.json"), "w", encoding="utf-8") as f:
        f.write('{"reference": "transformers %s CLIPTokenizer (tokenizers %s), padding=max_length, '
                'max_length=77, truncation=True; forms a and b identical (sd15, sd2)",\n"cases": [\n'
                % (transformers.__version__, __import__("tokenizers").__version__))
        f.write(",\n".join(json.dumps(c, ensure_ascii=True, separators=(",", ":")) for c in cases))
        f.write("\n]}\n")

    print("unicode tables ...")
    write_json(os.path.join(OUT, "unicode.json"), unicode_tables(), separators=(",", ":"))

    truncated = sum(1 for c in cases if c["sd15_length"] > 77)
    differ = sum(1 for c in cases if c["sd15"][:min(c["sd15_length"], 77)] != c["sd2"][:min(c["sd2_length"], 77)])
    print(f"{len(prompts)} prompts, {truncated} truncated, {differ} where SD 2.x differs beyond padding")


if __name__ == "__main__":
    main()
