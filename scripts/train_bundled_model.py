#!/usr/bin/env python3
"""Train Easel's bundled default model, "easel-shapes": a small latent-diffusion model of the
synthetic shapes world (scripts/shapes.py), in the standard diffusers layout, so Easel runs it
through exactly the code that runs SD 1.5.

Run once, on CPU; CI never retrains:

    python3 scripts/train_bundled_model.py --work /tmp/easel-shapes-train

Stages (each resumable from --work; `all` runs them in order):
  vae      AutoencoderKL 64x64x3 <-> 16x16x4, trained on random 32x32 crops with the shape's
           pixels weighted up (small and dark shapes must survive the round trip), then checked
           on 512 fresh pictures with the same image analysis as the model test.
  latents  a fixed set of pictures (held-out combinations excluded) encoded once.
  unet     CLIPTextModel and UNet2DConditionModel trained together from scratch: v-prediction
           on a linear beta schedule (ᾱ_T ≈ 4e-5, so pure noise carries no layout), and
           high-noise timesteps sampled more often. (Epsilon prediction learnt no layout and
           ignored the text for its first 1,000 steps: at high noise predicting ε ≈ x_t costs
           almost nothing, while v ≈ -x0 there makes the model say what the picture is.) 12% of captions empty or Leap's default
           negative prompt, for guidance.
  export   the diffusers folder (float16 safetensors) into Sources/EaselDiffusion/Resources/models,
           and the held-out captions into the test fixtures.
  fixtures (part of export) the held-out captions with diffusers' readings of and pictures
           from the exported files, for the Swift tests.
  eval     generates the held-out captions with diffusers and reports accuracy per attribute.
  vae-check  the VAE's round trip again, on its own.

Reproducible from --seed: data, initialisation and batches all come from it.

How the committed weights were made (2026-11-26, about 2 h 10 min of this 2-core machine in all):
  vae --vae-steps 1500; latents                      (VAE round trip: colour, background,
                                                       position 100%, shape 96% on 512 pictures)
  unet --unet-steps 4600 --stop-after 2000 --batch 48 --shape-weight 0                   (29 min)
  unet --resume --unet-steps 2700 --stop-after 1800 --batch 48 --lr 4e-4 --eval-every 900  (27 min)
  unet --resume --unet-steps 1400 --batch 48 --lr 2e-4 --eval-every 700 --layout-share 0.6  (20 min)
  unet --resume --unet-steps 2100 --batch 48 --lr 2e-4 --eval-every 700 --layout-share 0.6  (33 min)
  export
Held-out accuracy (background / colour / position, 48 captions) after each: 100 / 0 / 4% (the
shape is 4-12% of the picture: unweighted, the model drew tiny smudges); 85 / 88 / 8% with the
shape weighted up (colours learnt, shapes big central blobs); 92 / 90 / 62.5% after focusing on
t >= 850; then 90 / 81 / 94% (step 700), 98 / 90 / 94% (1,400) and 100 / 98 / 100% (2,100) —
`eval --eval-count 192`: 100 / 97 / 99.5%. Position is learnt only at high noise; colour settles
last, as the learning rate decays. (Untested: one run from scratch with --layout-share from its
start may well get there sooner.)
"""
import argparse
import json
import math
import os
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes as S  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIP_VOCAB = os.path.join(REPO, "Sources", "EaselDiffusion", "Resources", "clip")
MODEL_OUT = os.path.join(REPO, "Sources", "EaselDiffusion", "Resources", "models", "easel-shapes")
FIXTURE_OUT = os.path.join(REPO, "Tests", "EaselDiffusionTests", "Fixtures", "bundled-model")
MODEL_NAME = "easel-shapes"

SCHEDULER = dict(num_train_timesteps=1000, beta_start=0.0001, beta_end=0.02, beta_schedule="linear",
                 prediction_type="v_prediction", steps_offset=1, set_alpha_to_one=False, clip_sample=False,
                 timestep_spacing="leading")


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


# ---------------------------------------------------------------- models

def make_vae():
    from diffusers import AutoencoderKL
    return AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4,
                         down_block_types=["DownEncoderBlock2D"] * 3, up_block_types=["UpDecoderBlock2D"] * 3,
                         block_out_channels=[32, 64, 64], layers_per_block=1, norm_num_groups=16,
                         sample_size=64, scaling_factor=1.0)


def make_text_encoder():
    from transformers import CLIPTextConfig, CLIPTextModel
    cfg = CLIPTextConfig(vocab_size=49408, hidden_size=128, intermediate_size=512, num_hidden_layers=3,
                         num_attention_heads=4, max_position_embeddings=77, hidden_act="quick_gelu",
                         layer_norm_eps=1e-5, projection_dim=128, bos_token_id=0, eos_token_id=2, pad_token_id=1)
    return CLIPTextModel(cfg)


def make_unet():
    from diffusers import UNet2DConditionModel
    # 16 -> 8 -> 4 -> 2: the coarsest levels see the whole picture, and cross-attention sits at
    # 8x8, 4x4, 2x2 and in the middle, where layout is decided.
    return UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=[64, 96, 128, 128],
        down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
        up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
        cross_attention_dim=128, attention_head_dim=4, norm_num_groups=32)


def make_tokenizer():
    from transformers import CLIPTokenizer
    tok = CLIPTokenizer(os.path.join(CLIP_VOCAB, "vocab.json"), os.path.join(CLIP_VOCAB, "merges.txt"),
                        pad_token="<|endoftext|>")
    tok.model_max_length = 77
    return tok


def to_tensor(imgs):
    return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def to_uint8(x):
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def params(m):
    return sum(p.numel() for p in m.parameters())


def score(results, wanted):
    """Accuracy per attribute of analysed pictures against what was asked."""
    keys = ("colour", "background", "position", "shape")
    out = {k: float(np.mean([r[k] == w[k] for r, w in zip(results, wanted)])) for k in keys}
    return out


# ---------------------------------------------------------------- stage: vae

def stage_vae(args):
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    vae = make_vae()
    log(f"vae: {params(vae) / 1e6:.2f}M parameters")
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)
    steps, batch, crop = args.vae_steps, 32, 32
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 100) * 0.5 * (1 + math.cos(math.pi * s / steps)))
    t0 = time.time()
    for step in range(steps):
        imgs, weights = [], []
        for _ in range(batch):
            img, cover = S.render(*S.sample_attributes(rng), rng)
            # crops that mostly contain the shape: the background is easy
            ys, xs = np.nonzero(cover > 0.5)
            cy, cx = (int(ys.mean()), int(xs.mean())) if len(ys) else (32, 32)
            y0 = int(np.clip(cy - crop // 2 + rng.integers(-10, 11), 0, S.SIZE - crop))
            x0 = int(np.clip(cx - crop // 2 + rng.integers(-10, 11), 0, S.SIZE - crop))
            imgs.append(img[y0:y0 + crop, x0:x0 + crop])
            edge = (cover > 0.02).astype(np.float32)
            weights.append(1.0 + 4.0 * edge[y0:y0 + crop, x0:x0 + crop])
        x = to_tensor(imgs)
        w = torch.from_numpy(np.stack(weights))[:, None]
        post = vae.encode(x).latent_dist
        z = post.sample()
        y = vae.decode(z).sample
        rec = (w * ((y - x).abs() + (y - x) ** 2)).mean()
        kl = post.kl().mean() / (4 * (crop // 4) ** 2)
        loss = rec + 1e-5 * kl
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 50 == 0 or step == steps - 1:
            log(f"vae step {step}/{steps} rec {rec.item():.4f} kl {kl.item():.1f} "
                f"{(time.time() - t0) / (step + 1):.2f}s/step")
    vae.save_pretrained(os.path.join(args.work, "vae"))
    check_vae(args, vae)


@torch.no_grad()
def check_vae(args, vae=None):
    from diffusers import AutoencoderKL
    vae = vae or AutoencoderKL.from_pretrained(os.path.join(args.work, "vae"))
    vae.eval()
    rng = np.random.default_rng(args.seed + 1)
    wanted, imgs = [], []
    for _ in range(512):
        a = S.sample_attributes(rng)
        imgs.append(S.render(*a, rng)[0])
        wanted.append(dict(zip(("shape", "colour", "background", "position"), a[:4])))
    x = to_tensor(imgs)
    lat = torch.cat([vae.encode(x[i:i + 64]).latent_dist.mean for i in range(0, len(x), 64)])
    rec = torch.cat([vae.decode(lat[i:i + 64]).sample for i in range(0, len(x), 64)])
    got = [S.analyse(im) for im in to_uint8(rec)]
    acc = score(got, wanted)
    std = lat.std().item()
    log(f"vae round trip on 512 fresh pictures: {acc}; latent std {std:.4f} mean {lat.mean().item():.4f}")
    with open(os.path.join(args.work, "vae_check.json"), "w") as f:
        json.dump({"accuracy": acc, "latent_std": std}, f)
    return acc


# ---------------------------------------------------------------- stage: latents

@torch.no_grad()
def stage_latents(args):
    from diffusers import AutoencoderKL
    vae = AutoencoderKL.from_pretrained(os.path.join(args.work, "vae")).eval()
    std = json.load(open(os.path.join(args.work, "vae_check.json")))["latent_std"]
    scale = round(1.0 / std, 5)
    rng = np.random.default_rng(args.seed + 2)
    held = set(S.held_out_triples())
    attrs, lats = [], []
    t0 = time.time()
    for start in range(0, args.images, 256):
        batch = [S.sample_attributes(rng, excluded=held) for _ in range(min(256, args.images - start))]
        x = to_tensor([S.render(*a, rng)[0] for a in batch])
        lats.append(vae.encode(x).latent_dist.mean * scale)
        attrs += batch
        if start % 4096 == 0:
            log(f"latents {start}/{args.images} {time.time() - t0:.0f}s")
    lat = torch.cat(lats)
    log(f"latents: {tuple(lat.shape)}, scaled std {lat.std().item():.3f}, scaling_factor {scale}")
    torch.save({"latents": lat.half(), "attributes": attrs, "scaling_factor": scale},
               os.path.join(args.work, "latents.pt"))


def shape_masks(args, attrs):
    """Where the shape is in each training picture, at latent resolution (coverage averaged over
    4x4 pixels): replays stage_latents' random draws, so it needs no VAE."""
    rng = np.random.default_rng(args.seed + 2)
    held = set(S.held_out_triples())
    masks = []
    for start in range(0, len(attrs), 256):
        batch = [S.sample_attributes(rng, excluded=held) for _ in range(min(256, len(attrs) - start))]
        assert batch == [tuple(a) for a in attrs[start:start + len(batch)]], "not the pictures of latents.pt"
        masks += [S.render(*a, rng)[1].reshape(16, 4, 16, 4).mean(axis=(1, 3)) for a in batch]
    return torch.from_numpy(np.stack(masks))[:, None]


# ---------------------------------------------------------------- stage: unet

def sample_timesteps(n, gen, layout_share=0.0):
    # Half uniform, half with density rising linearly towards t=999: layout is decided at high noise.
    # With layout_share, that share of the batch comes from t >= 850 only, where x_t no longer
    # shows where the shape is and only the caption can say.
    u = torch.rand(n, generator=gen)
    high = torch.rand(n, generator=gen).sqrt()
    pick = torch.rand(n, generator=gen) < 0.5
    t = torch.where(pick, high, u) * 1000
    layout = 850 + 150 * torch.rand(n, generator=gen)
    t = torch.where(torch.rand(n, generator=gen) < layout_share, layout, t)
    return t.long().clamp(0, 999)


# Leap's default negative prompt: requests that leave it out get it as their unconditional text.
LEAP_NEGATIVE = "asymmetric, watermarks"


def unconditional(rng):
    """For 12% of pictures, no caption: the empty text (what guidance usually subtracts) or Leap's
    default negative prompt, so both mean "nothing in particular" to the model."""
    u = rng.random()
    return "" if u < 0.07 else LEAP_NEGATIVE if u < 0.12 else None


def stage_unet(args):
    from diffusers import DDPMScheduler
    torch.manual_seed(args.seed + 3)
    data = torch.load(os.path.join(args.work, "latents.pt"))
    latents, attrs = data["latents"].float(), data["attributes"]
    masks = shape_masks(args, attrs)
    tok = make_tokenizer()
    text, unet = make_text_encoder(), make_unet()
    if args.resume:
        from diffusers import UNet2DConditionModel
        from transformers import CLIPTextModel
        text = CLIPTextModel.from_pretrained(os.path.join(args.work, "text_encoder"))
        unet = UNet2DConditionModel.from_pretrained(os.path.join(args.work, "unet"))
        log("resumed from the saved text encoder and UNet")
    log(f"text encoder {params(text) / 1e6:.2f}M, unet {params(unet) / 1e6:.2f}M parameters, "
        f"{len(latents)} training pictures")
    noise_sched = DDPMScheduler(**{k: v for k, v in SCHEDULER.items() if k not in ("set_alpha_to_one", "steps_offset")})
    opt = torch.optim.AdamW(list(text.parameters()) + list(unet.parameters()), lr=args.lr, weight_decay=0.01)
    steps, batch = args.unet_steps, args.batch
    warm = 100 if args.resume else 200
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))))
    gen = torch.Generator().manual_seed(args.seed + 4)
    rng = np.random.default_rng(args.seed + 5)
    cache = {}

    def ids(captions):
        out = []
        for c in captions:
            if c not in cache:
                cache[c] = tok(c, padding="max_length", max_length=77, truncation=True).input_ids
            out.append(cache[c])
        return torch.tensor(out)

    t0 = time.time()
    ema_loss = None
    last = min(steps, args.stop_after or steps) - 1
    for step in range(last + 1):
        idx = torch.randint(0, len(latents), (batch,), generator=gen)
        x0 = latents[idx]
        caps = [c if (c := unconditional(rng)) is not None else S.caption(*attrs[i], rng) for i in idx.tolist()]
        noise = torch.randn(x0.shape, generator=gen)
        t = sample_timesteps(batch, gen, args.layout_share)
        xt = noise_sched.add_noise(x0, noise, t)
        enc = text(ids(caps))[0]
        pred = unet(xt, t, enc).sample
        # The shape is 4-12% of the picture: weighted up, its colour and place are worth learning.
        weight = 1.0 + args.shape_weight * masks[idx]
        loss = (weight * (pred - noise_sched.get_velocity(x0, noise, t)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(text.parameters()) + list(unet.parameters()), 1.0)
        opt.step()
        sched.step()
        ema_loss = loss.item() if ema_loss is None else 0.98 * ema_loss + 0.02 * loss.item()
        if step % 100 == 0 or step == last:
            log(f"unet step {step}/{steps} loss {ema_loss:.4f} lr {sched.get_last_lr()[0]:.2e} "
                f"{(time.time() - t0) / (step + 1):.2f}s/step")
        if (step + 1) % args.eval_every == 0 or step == last:
            save_components(args, text, unet, data["scaling_factor"])
            evaluate(args, count=48, text=text, unet=unet)
            text.train(), unet.train()


def save_components(args, text, unet, scaling_factor):
    text.save_pretrained(os.path.join(args.work, "text_encoder"))
    unet.save_pretrained(os.path.join(args.work, "unet"))
    with open(os.path.join(args.work, "scaling_factor.json"), "w") as f:
        json.dump({"scaling_factor": scaling_factor}, f)


# ---------------------------------------------------------------- held-out captions and evaluation

EXAMPLE_FORMS = [
    "a {size} {colour} {shape} {pos} on a {bg} background",
    "{bg} background, {size} {colour} {shape} {pos}",
    "a {colour} {shape} {pos} on a {bg} background",
    "a {bg} background with a {colour} {shape} {pos}",
]


def held_out_captions(count=48, seed=99):
    """Captions for (shape, colour, background) combinations never drawn in training, each with a
    position and a size, worded like the issue's examples."""
    rng = np.random.default_rng(seed)
    held = S.held_out_triples()
    positions = list(S.POSITIONS)
    out = []
    for i in range(count):
        shape, colour, bg = held[i % len(held)]
        position = positions[(i * 4 + i // len(held)) % len(positions)]
        size = list(S.SIZES)[rng.integers(2)]
        pos = S.POSITION_WORDS[position][rng.integers(3)]
        form = EXAMPLE_FORMS[i % len(EXAMPLE_FORMS)]
        prompt = form.format(size=size, colour=colour, shape=shape, pos=pos, bg=bg)
        out.append({"prompt": prompt, "shape": shape, "colour": colour, "background": bg,
                    "position": position, "size": size, "seed": 1000 + i})
    return out


@torch.no_grad()
def generate(text, unet, vae, prompts, seeds, steps=25, guidance=7.0):
    from diffusers import DDIMScheduler
    tok = make_tokenizer()
    sched = DDIMScheduler(**SCHEDULER)
    sched.set_timesteps(steps)
    cond = text(torch.tensor(tok(prompts, padding="max_length", max_length=77, truncation=True).input_ids))[0]
    uncond = text(torch.tensor(tok([""] * len(prompts), padding="max_length", max_length=77).input_ids))[0]
    lat = torch.cat([torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(s)) for s in seeds])
    for t in sched.timesteps:
        e = unet(torch.cat([lat, lat]), t, torch.cat([uncond, cond])).sample
        eu, ec = e.chunk(2)
        lat = sched.step(eu + guidance * (ec - eu), t, lat).prev_sample
    return to_uint8(vae.decode(lat / vae.config.scaling_factor).sample)


def draw_and_read(text, unet, vae, cases):
    """Each case's picture (16 at a time), what the reader sees in it, and the accuracy per
    attribute; logs every caption drawn wrong in colour, background or position."""
    imgs = np.concatenate([generate(text, unet, vae, [c["prompt"] for c in cases[i:i + 16]],
                                    [c["seed"] for c in cases[i:i + 16]]) for i in range(0, len(cases), 16)])
    got = [S.analyse(im) for im in imgs]
    for c, g in zip(cases, got):
        wrong = [f"{k} {g[k]}" for k in ("colour", "background", "position") if g[k] != c[k]]
        if wrong:
            log(f"  \"{c['prompt']}\": {', '.join(wrong)}")
    return imgs, got, score(got, cases)


def evaluate(args, count=48, text=None, unet=None):
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel
    text = (text or CLIPTextModel.from_pretrained(os.path.join(args.work, "text_encoder"))).eval()
    unet = (unet or UNet2DConditionModel.from_pretrained(os.path.join(args.work, "unet"))).eval()
    vae = AutoencoderKL.from_pretrained(os.path.join(args.work, "vae")).eval()
    vae.register_to_config(scaling_factor=json.load(open(os.path.join(args.work, "scaling_factor.json")))["scaling_factor"])
    cases = held_out_captions(count)
    imgs, _, acc = draw_and_read(text, unet, vae, cases)
    log(f"held-out accuracy ({len(cases)} captions): {acc}")
    from PIL import Image
    rows = [np.concatenate(list(imgs[r:r + 8]), 1) for r in range(0, len(imgs) - len(imgs) % 8, 8)]
    Image.fromarray(np.concatenate(rows, 0)).save(os.path.join(args.work, "eval.png"))
    return acc


# ---------------------------------------------------------------- stage: export

def write_tokenizer(folder):
    """The tokenizer/ folder as SD 1.x checkpoints publish it: CLIP's vocab.json and merges.txt,
    tokenizer_config.json and special_tokens_map.json (pad = <|endoftext|>)."""
    os.makedirs(folder, exist_ok=True)
    for f in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(CLIP_VOCAB, f), os.path.join(folder, f))
    special = lambda t: {"content": t, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}
    tokens = {"bos_token": special("<|startoftext|>"), "eos_token": special("<|endoftext|>"),
              "unk_token": special("<|endoftext|>"), "pad_token": "<|endoftext|>"}
    with open(os.path.join(folder, "special_tokens_map.json"), "w") as f:
        json.dump(tokens, f, indent=2)
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"add_prefix_space": False, "do_lower_case": True, "errors": "replace", "model_max_length": 77,
                   "tokenizer_class": "CLIPTokenizer", **tokens}, f, indent=2)


def stage_export(args):
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextModel
    shutil.rmtree(MODEL_OUT, ignore_errors=True)
    os.makedirs(MODEL_OUT)
    scale = json.load(open(os.path.join(args.work, "scaling_factor.json")))["scaling_factor"]
    vae = AutoencoderKL.from_pretrained(os.path.join(args.work, "vae"))
    vae.register_to_config(scaling_factor=scale)
    for name, model in (("vae", vae),
                        ("unet", UNet2DConditionModel.from_pretrained(os.path.join(args.work, "unet"))),
                        ("text_encoder", CLIPTextModel.from_pretrained(os.path.join(args.work, "text_encoder")))):
        model.to(torch.float16).save_pretrained(os.path.join(MODEL_OUT, name))
    DDIMScheduler(**SCHEDULER).save_pretrained(os.path.join(MODEL_OUT, "scheduler"))
    write_tokenizer(os.path.join(MODEL_OUT, "tokenizer"))
    index = {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.42.1",
             "feature_extractor": [None, None], "requires_safety_checker": False, "safety_checker": [None, None],
             "scheduler": ["diffusers", "DDIMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
             "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
             "vae": ["diffusers", "AutoencoderKL"]}
    with open(os.path.join(MODEL_OUT, "model_index.json"), "w") as f:
        json.dump(index, f, indent=2)
    log(f"exported to {MODEL_OUT}")
    write_fixtures()


@torch.no_grad()
def write_fixtures(reference_count=8):
    """The held-out captions with what diffusers draws for them from the exported (float16) files,
    computed in float32: the accuracy Easel must reach, and the first pictures' pixels for parity."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel
    load = lambda cls, sub: cls.from_pretrained(os.path.join(MODEL_OUT, sub), torch_dtype=torch.float32).eval()
    text, unet, vae = load(CLIPTextModel, "text_encoder"), load(UNet2DConditionModel, "unet"), load(AutoencoderKL, "vae")
    cases = held_out_captions(48)
    imgs, got, acc = draw_and_read(text, unet, vae, cases)
    for c, g in zip(cases, got):
        c["diffusers"] = {k: g[k] for k in ("colour", "background", "position", "shape")}
    log(f"diffusers on the exported model, held-out captions: {acc}")
    os.makedirs(FIXTURE_OUT, exist_ok=True)
    with open(os.path.join(FIXTURE_OUT, "held_out_captions.json"), "w") as f:
        json.dump({"steps": 25, "guidance": 7.0, "scheduler": "model's own (DDIM)",
                   "palette": S.COLOURS, "held_out": S.held_out_triples(), "diffusers_accuracy": acc,
                   "reference_images": reference_count, "cases": cases}, f, indent=1)
    imgs[:reference_count].tofile(os.path.join(FIXTURE_OUT, "reference.u8"))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=["all", "vae", "vae-check", "latents", "unet", "export", "fixtures", "eval"])
    p.add_argument("--work", default="/tmp/easel-shapes-train")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--vae-steps", type=int, default=900)
    p.add_argument("--images", type=int, default=32768)
    p.add_argument("--unet-steps", type=int, default=5000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--shape-weight", type=float, default=8.0)
    p.add_argument("--layout-share", type=float, default=0.0)
    p.add_argument("--resume", action="store_true", help="unet: start from the text encoder and UNet in --work")
    p.add_argument("--stop-after", type=int, help="unet: train only this many steps of the --unet-steps schedule")
    p.add_argument("--eval-count", type=int, default=48, help="eval: how many held-out captions (the test's are the first 48)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)
    stages = ["vae", "latents", "unet", "export"] if args.stage == "all" else [args.stage]
    for st in stages:
        {"vae": stage_vae, "vae-check": check_vae, "latents": stage_latents, "unet": stage_unet,
         "export": stage_export, "fixtures": lambda _: write_fixtures(),
         "eval": lambda a: evaluate(a, count=a.eval_count)}[st](args)


if __name__ == "__main__":
    main()
