#!/usr/bin/env python3
"""Derive CLIP's vocab.json and merges.txt from OpenAI's bpe_simple_vocab_16e6.txt.gz.

Writes Sources/EaselDiffusion/Resources/clip/{vocab.json,merges.txt}: Easel's built-in
vocabulary for single-file checkpoints, which carry no tokenizer.

The vocabulary is built exactly as CLIP's own SimpleTokenizer builds it
(clip/simple_tokenizer.py): merges are lines[1:49152-256-2+1] of the BPE file; the vocabulary
is the 256 byte-to-unicode characters, the same with '</w>', every merged pair joined, then
'<|startoftext|>' and '<|endoftext|>' (49,408 entries). The files use the layout of
openai/clip-vit-large-patch14's tokenizer files (vocab.json token -> id; merges.txt with a
"#version: 0.2" header), and the script checks that transformers' CLIPTokenizer loads them
and gives CLIP's known ids.

Usage: python3 scripts/make_clip_vocab.py [path/to/bpe_simple_vocab_16e6.txt.gz]
The file ships in the PyPI packages clip-anytorch (clip/) and open-clip-torch (open_clip/).
"""

import gzip
import json
import os
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "Sources", "EaselDiffusion", "Resources", "clip")
DEFAULT_BPE = "/root/.pyenv/versions/3.11.7/lib/python3.11/site-packages/clip/bpe_simple_vocab_16e6.txt.gz"


def bytes_to_unicode():
    """GPT-2/CLIP's reversible map from the 256 byte values to printable characters."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def derive(bpe_path):
    lines = gzip.open(bpe_path).read().decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1:49152 - 256 - 2 + 1]]
    assert all(len(m) == 2 for m in merges), "every merge line holds two symbols"
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    encoder = dict(zip(vocab, range(len(vocab))))
    assert len(encoder) == len(vocab) == 49408, len(encoder)
    return encoder, merges


def write(encoder, merges, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "vocab.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(encoder, ensure_ascii=False))
    with open(os.path.join(out_dir, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")


def verify(out_dir):
    """transformers' CLIPTokenizer must load the files and give CLIP's known ids."""
    from transformers import CLIPTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        for name in ("vocab.json", "merges.txt"):
            os.symlink(os.path.join(out_dir, name), os.path.join(tmp, name))
        tok = CLIPTokenizer.from_pretrained(tmp)
    got = tok("a photo of a cat")["input_ids"]
    assert got == [49406, 320, 1125, 539, 320, 2368, 49407], got
    got = tok("An astronaut riding a horse on Mars!")["input_ids"]
    assert got[0] == 49406 and got[-1] == 49407 and len(got) == 10, got
    assert tok.convert_tokens_to_ids(["!", "<|startoftext|>", "<|endoftext|>"]) == [0, 49406, 49407]

    # CLIP's own tokenizer agrees on plain text (no ftfy/html differences involved).
    try:
        from clip.simple_tokenizer import SimpleTokenizer
    except ImportError:
        return
    clip_tok = SimpleTokenizer()
    for text in ("a photo of a cat", "an astronaut riding a horse on mars, 4k, trending on artstation"):
        assert tok(text)["input_ids"][1:-1] == clip_tok.encode(text), text


def main():
    bpe_path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_BPE
    encoder, merges = derive(bpe_path)
    write(encoder, merges, OUT)
    verify(OUT)
    print(f"wrote {len(encoder)} tokens and {len(merges)} merges to {OUT}; transformers agrees")


if __name__ == "__main__":
    main()
