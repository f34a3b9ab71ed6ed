#!/usr/bin/env python3
"""`easel generate` (the binary) against diffusers' images, for every fixture case.

    python3 scripts/check_generate_cli.py --binary .build-bin/release/easel

Lays out each tiny model (fixture + CLIP vocabulary), runs the binary with each case's
settings, reads the PNGs back and compares them with diffusers' pixels
(Tests/EaselDiffusionTests/Fixtures/pipeline). Then runs it without `--model` (the bundled
easel-shapes) on the first held-out captions and compares with diffusers' pictures of them
(Tests/EaselDiffusionTests/Fixtures/bundled-model). Then image to image: `--init-image`
and `--strength` against diffusers' StableDiffusionImg2ImgPipeline
(Tests/EaselDiffusionTests/Fixtures/img2img), and a JPEG init image and bad init images
refused with a message. Then the few-step recipes (Tests/EaselDiffusionTests/Fixtures/fewstep):
SD-Turbo's Euler a trailing at guidance 0, LCM with its guidance-embedding UNet, TCD, and an
unknown timestep_spacing refused with a message. Then `--tiny-autoencoder` (both weight namings, text to image and image to image,
Tests/EaselDiffusionTests/Fixtures/tiny-autoencoder) and a tiny autoencoder with a tensor
missing refused. Then `--lora PATH:SCALE` (kohya, PEFT and older diffusers naming, one and two at
once; Tests/EaselDiffusionTests/Fixtures/lora) and bad LoRAs (wrong shapes, keys that match
nothing, a truncated file) refused with their names. Last, `easel models add` refuses broken checkpoints (truncated, a
tensor missing, a config that does not fit the weights) with the loader's message and installs
nothing, a LoRA that does not fit the base is refused the same way, and a model with a recipe
is listed with it. Needs numpy and Pillow (not torch).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

from easel_process import BUNDLED_FIXTURES, complete_model, generate_held_out, held_out_fixture

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(REPO, "Tests", "EaselDiffusionTests", "Fixtures", "models")
FIXTURES = os.path.join(REPO, "Tests", "EaselDiffusionTests", "Fixtures", "pipeline")
IMG2IMG = os.path.join(REPO, "Tests", "EaselDiffusionTests", "Fixtures", "img2img")
FEWSTEP = os.path.join(REPO, "Tests", "EaselDiffusionTests", "Fixtures", "fewstep")
TINY_AE = os.path.join(REPO, "Tests", "EaselDiffusionTests", "Fixtures", "tiny-autoencoder")
LORA = os.path.join(REPO, "Tests", "EaselDiffusionTests", "Fixtures", "lora")
SDXL = os.path.join(REPO, "Tests", "EaselDiffusionTests", "Fixtures", "sdxl")


def sdxl(binary, tmp):
    """The tiny SDXL model's cases (Fixtures/sdxl) through the binary: the folder and the same
    model as an SGM single file, a kohya-named LoRA on the single file, image to image."""
    import shutil
    folder = os.path.join(tmp, "sdxl", "tiny-sdxl")
    shutil.copytree(os.path.join(SDXL, "tiny-sdxl"), folder)
    for tok in ("tokenizer", "tokenizer_2"):
        for f in ("vocab.json", "merges.txt"):
            shutil.copy(os.path.join(REPO, "Sources", "EaselDiffusion", "Resources", "clip", f), os.path.join(folder, tok, f))
    single = [os.path.join(SDXL, "tiny-sdxl.safetensors"), "--config", folder]
    init = os.path.join(REPO, "Tests", "EaselDiffusionTests", "Fixtures", "img2img", "init.png")

    def check(label, model, c, extra=()):
        cmd = [binary, "generate", "--model", *model, "--prompt", c["prompt"], "--negative-prompt", c["negative"],
               "--steps", str(c["steps"]), "--seed", str(c["seed"]), "--guidance", str(c["guidance"]),
               "--count", str(c.get("count", 1)), *extra, "-o", os.path.join(tmp, f"sdxl-{c['file']}.png")]
        if "width" in c:
            cmd += ["--width", str(c["width"]), "--height", str(c["height"])]
        if c.get("scheduler", "default") != "default":
            cmd += ["--scheduler", c["scheduler"]]
        worst = worst_pixel(cmd, os.path.join(SDXL, c["file"]), c["shape"])
        print(f"sdxl {label}: worst {worst}/255")
        return worst > 2

    failures = 0
    for form, model in (("folder", [folder]), ("single file", single)):
        for c in json.load(open(os.path.join(SDXL, "cases.json"))):
            failures += check(f"({form}) {c['scheduler']} x{c['count']} {c['width']}x{c['height']}", model, c)
    c = json.load(open(os.path.join(SDXL, "lora.json")))
    failures += check("(single file) kohya LoRA", single, c,
                      ["--lora", f"{os.path.join(SDXL, 'lora-kohya.safetensors')}:{c['scale']}"])
    for c in json.load(open(os.path.join(SDXL, "img2img.json"))):
        failures += check(f"img2img {c['scheduler']} strength {c['strength']} x{c['count']}", [folder], c,
                          ["--init-image", init, "--strength", str(c["strength"])])
    return failures


def worst_pixel(cmd, reference, shape):
    """Runs `easel generate` (cmd) and returns the worst pixel difference of its PNGs from the
    reference (uint8 RGB, `shape` [count, H, W, 3]); 255 when the sizes differ."""
    paths = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()
    got = np.stack([np.array(Image.open(p).convert("RGB")) for p in paths])
    ref = np.fromfile(reference, dtype=np.uint8).reshape(shape)
    return int(np.abs(got.astype(int) - ref).max()) if got.shape == ref.shape else 255


def loras(binary, tmp):
    """Every LoRA fixture case through `--lora PATH:SCALE`, and bad LoRAs refused with their names."""
    failures = 0
    folder = complete_model(os.path.join(MODELS, "tiny-sd1"), parent=tmp)
    for c in json.load(open(os.path.join(LORA, "cases.json"))):
        out = os.path.join(tmp, f"lora-{c['file']}.png")
        cmd = [binary, "generate", "--model", folder, "--prompt", c["prompt"], "--negative-prompt", c["negative"],
               "--steps", str(c["steps"]), "--seed", str(c["seed"]), "--guidance", str(c["guidance"]),
               "--count", str(c["count"]), "--width", str(c["width"]), "--height", str(c["height"]), "-o", out]
        for name, scale in c["loras"]:
            cmd += ["--lora", f"{os.path.join(LORA, name)}.safetensors:{scale}"]
        worst = worst_pixel(cmd, os.path.join(LORA, c["file"]), c["shape"])
        failures += worst > 2
        print(f"--lora {' + '.join(f'{n}:{s}' for n, s in c['loras'])}: worst {worst}/255")
    truncated = os.path.join(tmp, "truncated.safetensors")
    data = open(os.path.join(LORA, "kohya.safetensors"), "rb").read()
    open(truncated, "wb").write(data[:-100])
    for path, words in [(os.path.join(LORA, "bad-shape.safetensors"), "attn1_to_q"),
                        (os.path.join(LORA, "foreign.safetensors"), "lora_unet_down_blocks_7_attentions_0_proj_in"),
                        (truncated, "cannot be read")]:
        r = subprocess.run([binary, "generate", "--model", folder, "--prompt", "x", "--steps", "1", "--lora", path,
                            "-o", os.path.join(tmp, "bad.png")], capture_output=True, text=True)
        refused = r.returncode != 0 and words in r.stderr and "Fatal error" not in r.stderr
        failures += not refused
        print(f"--lora {os.path.basename(path)}: exit {r.returncode}, "
              f"{'refused with its names' if refused else 'MESSAGE: ' + r.stderr.strip()[:300]}")
    return failures


def tiny_autoencoder(binary, tmp):
    """tiny-sd1 decoded with the tiny autoencoder in each naming, and a broken one refused."""
    import shutil
    failures = 0
    c = json.load(open(os.path.join(TINY_AE, "case.json")))
    folder = complete_model(os.path.join(MODELS, c["model"]), parent=tmp)
    for naming in ("diffusers", os.path.join("original", "taesd_decoder.safetensors")):
        out = os.path.join(tmp, "taesd.png")
        cmd = [binary, "generate", "--model", folder, "--prompt", c["prompt"], "--negative-prompt", c["negative"],
               "--steps", str(c["steps"]), "--seed", str(c["seed"]), "--guidance", str(c["guidance"]),
               "--scheduler", c["scheduler"], "--width", str(c["width"]), "--height", str(c["height"]),
               "--tiny-autoencoder", os.path.join(TINY_AE, naming), "-o", out]
        worst = worst_pixel(cmd, os.path.join(TINY_AE, c["file"]), c["shape"])
        failures += worst > 2
        print(f"--tiny-autoencoder {naming}: worst {worst}/255")
    c = json.load(open(os.path.join(TINY_AE, "img2img.json")))
    for naming in ("diffusers", "original"):
        out = os.path.join(tmp, "taesd-img2img.png")
        cmd = [binary, "generate", "--model", folder, "--prompt", c["prompt"], "--negative-prompt", c["negative"],
               "--steps", str(c["steps"]), "--seed", str(c["seed"]), "--guidance", str(c["guidance"]),
               "--count", str(c["count"]), "--scheduler", c["scheduler"], "--strength", str(c["strength"]),
               "--init-image", os.path.join(IMG2IMG, c["init"]),
               "--tiny-autoencoder", os.path.join(TINY_AE, naming), "-o", out]
        worst = worst_pixel(cmd, os.path.join(TINY_AE, c["file"]), c["shape"])
        failures += worst > 2
        print(f"--tiny-autoencoder {naming} --init-image x{c['count']}: worst {worst}/255")
    broken = os.path.join(tmp, "broken-taesd")
    shutil.copytree(os.path.join(TINY_AE, "original"), broken)
    os.remove(os.path.join(broken, "taesd_decoder.safetensors"))
    r = subprocess.run([binary, "generate", "--model", folder, "--prompt", "x", "--steps", "1",
                        "--tiny-autoencoder", broken, "-o", os.path.join(tmp, "x.png")], capture_output=True, text=True)
    refused = r.returncode != 0 and "--tiny-autoencoder" in r.stderr and "Fatal error" not in r.stderr
    failures += not refused
    print(f"tiny autoencoder without a decoder: exit {r.returncode}, {'refused' if refused else 'MESSAGE: ' + r.stderr[:300]}")
    return failures


def fewstep_model(name, tmp):
    """The model folders of scripts/make_fewstep_fixtures.py: tiny-sd2 with SD-Turbo's scheduler,
    tiny-sd1 with the tiny LCM UNet and LCM's scheduler, or tiny-sd1 itself."""
    import shutil
    base = "tiny-sd2" if name == "tiny-turbo" else "tiny-sd1"
    os.makedirs(os.path.join(tmp, name), exist_ok=True)
    folder = complete_model(os.path.join(MODELS, base), parent=os.path.join(tmp, name))
    scheduler = {"tiny-turbo": "turbo-scheduler_config.json", "tiny-lcm": "lcm-scheduler_config.json"}.get(name)
    if name == "tiny-lcm":
        shutil.rmtree(os.path.join(folder, "unet"))
        shutil.copytree(os.path.join(FEWSTEP, "lcm-unet"), os.path.join(folder, "unet"))
    if scheduler:
        shutil.copy(os.path.join(FEWSTEP, scheduler), os.path.join(folder, "scheduler", "scheduler_config.json"))
        index = json.load(open(os.path.join(folder, "model_index.json")))
        index["scheduler"] = ["diffusers", json.load(open(os.path.join(FEWSTEP, scheduler)))["_class_name"]]
        json.dump(index, open(os.path.join(folder, "model_index.json"), "w"))
    return folder


def few_step(binary, tmp):
    """Every few-step fixture case through the binary, and a bad timestep_spacing refused."""
    failures = 0
    folders = {}
    for c in json.load(open(os.path.join(FEWSTEP, "cases.json"))):
        folder = folders.setdefault(c["model"], fewstep_model(c["model"], tmp))
        out = os.path.join(tmp, f"fewstep-{c['file']}.png")
        cmd = [binary, "generate", "--model", folder, "--prompt", c["prompt"], "--negative-prompt", c["negative"],
               "--steps", str(c["steps"]), "--seed", str(c["seed"]), "--guidance", str(c["guidance"]),
               "--count", str(c["count"]), "--width", str(c["width"]), "--height", str(c["height"]), "-o", out]
        if c["scheduler"] != "default":
            cmd += ["--scheduler", c["scheduler"]]
        worst = worst_pixel(cmd, os.path.join(FEWSTEP, c["file"]), c["shape"])
        failures += worst > 2
        print(f"{c['model']} {c['scheduler']:>8} {c['steps']} steps guidance {c['guidance']} x{c['count']}: "
              f"worst {worst}/255")
    turbo = folders["tiny-turbo"]
    config_path = os.path.join(turbo, "scheduler", "scheduler_config.json")
    config = json.load(open(config_path))
    config["timestep_spacing"] = "sideways"
    json.dump(config, open(config_path, "w"))
    r = subprocess.run([binary, "generate", "--model", turbo, "--prompt", "x", "--steps", "1", "--guidance", "0",
                        "-o", os.path.join(tmp, "sideways.png")], capture_output=True, text=True)
    refused = r.returncode != 0 and "timestep_spacing = sideways" in r.stderr and "Fatal error" not in r.stderr
    failures += not refused
    print(f"timestep_spacing sideways: exit {r.returncode}, {'says so' if refused else 'MESSAGE: ' + r.stderr.strip()[:300]}")
    return failures


def image_to_image(binary, model, folder, tmp):
    """Every img2img fixture case through the binary; returns the number of failures."""
    failures = 0
    for c in json.load(open(os.path.join(IMG2IMG, f"{model}.cases.json"))):
        out = os.path.join(tmp, f"{model}-img2img-{c['file']}.png")
        cmd = [binary, "generate", "--model", folder, "--prompt", c["prompt"], "--negative-prompt", c["negative"],
               "--steps", str(c["steps"]), "--seed", str(c["seed"]), "--guidance", str(c["guidance"]),
               "--count", str(c["count"]), "--scheduler", c["scheduler"],
               "--init-image", os.path.join(IMG2IMG, c["init"]), "--strength", str(c["strength"]), "-o", out]
        worst = worst_pixel(cmd, os.path.join(IMG2IMG, c["file"]), c["shape"])
        failures += worst > 2
        print(f"{model} img2img {c['scheduler']:>8} strength {c['strength']} x{c['count']}: worst {worst}/255")
    return failures


def bad_init_images(binary, folder, tmp):
    """A JPEG init image works; a truncated one, a text file and a wrong size are refused."""
    failures = 0
    base = [binary, "generate", "--model", folder, "--prompt", "x", "--steps", "4", "-o", os.path.join(tmp, "b.png")]
    ok = subprocess.run(base + ["--init-image", os.path.join(IMG2IMG, "init.jpg")], capture_output=True, text=True)
    failures += ok.returncode != 0
    print(f"JPEG init image: exit {ok.returncode}")
    data = open(os.path.join(IMG2IMG, "init.png"), "rb").read()
    bad = {"truncated.png": data[: len(data) // 2], "text.png": b"not an image at all"}
    for name, content in bad.items():
        with open(os.path.join(tmp, name), "wb") as f:
            f.write(content)
    for args, words in [(["--init-image", os.path.join(tmp, "truncated.png")], "damaged or truncated"),
                        (["--init-image", os.path.join(tmp, "text.png")], "not a PNG or JPEG"),
                        (["--init-image", os.path.join(IMG2IMG, "init.png"), "--width", "72"], "init image is 64x64"),
                        (["--init-image", os.path.join(IMG2IMG, "init.png"), "--strength", "0"], "--strength")]:
        r = subprocess.run(base + args, capture_output=True, text=True)
        refused = r.returncode != 0 and words in r.stderr and "Fatal error" not in r.stderr
        failures += not refused
        print(f"refused {args[-1]!r}: exit {r.returncode}, {'says' if words in r.stderr else 'MISSING'} {words!r}")
    return failures


def models_add_refuses_broken(binary, tmp):
    """`easel models add` on broken checkpoints: non-zero exit, the loader's words, nothing installed."""
    import shutil
    failures = 0
    data = os.path.join(tmp, "data")
    single = os.path.join(REPO, "Tests", "EaselDiffusionTests", "Fixtures", "single_file", "tiny-sd1.safetensors")
    truncated = os.path.join(tmp, "truncated.safetensors")
    blob = open(single, "rb").read()
    open(truncated, "wb").write(blob[: len(blob) - 1000])
    for sub in ("missing", "misfit", "recipe"):
        os.makedirs(os.path.join(tmp, sub), exist_ok=True)
    missing = complete_model(os.path.join(MODELS, "tiny-sd1"), parent=os.path.join(tmp, "missing"))
    os.remove(os.path.join(missing, "vae", "diffusion_pytorch_model.safetensors"))
    misfit = complete_model(os.path.join(MODELS, "tiny-sd1"), parent=os.path.join(tmp, "misfit"))
    cfg_path = os.path.join(misfit, "unet", "config.json")
    cfg = json.load(open(cfg_path))
    cfg["cross_attention_dim"] = 48
    json.dump(cfg, open(cfg_path, "w"))
    for source, words in [(truncated, "truncated"), (missing, "vae"), (misfit, "shape")]:
        r = subprocess.run([binary, "models", "add", source, "--name", "broken", "--data-dir", data],
                           capture_output=True, text=True)
        said = "is not a model Easel can load" in r.stderr and words in r.stderr.lower()
        ok = r.returncode != 0 and said and "Fatal error" not in r.stderr
        failures += not ok
        print(f"models add {os.path.basename(source)}: exit {r.returncode}, {'says why' if said else 'MESSAGE: ' + r.stderr.strip()[:300]}")
    good = complete_model(os.path.join(MODELS, "tiny-sd1"), parent=os.path.join(tmp, "recipe"))
    r = subprocess.run([binary, "models", "add", good, "--name", "broken", "--data-dir", data,
                        "--lora", os.path.join(LORA, "foreign.safetensors")], capture_output=True, text=True)
    said = "with its recipe" in r.stderr and "lora_unet_down_blocks_7_attentions_0_proj_in" in r.stderr
    failures += not (r.returncode != 0 and said)
    print(f"models add --lora foreign: exit {r.returncode}, {'says why' if said else 'MESSAGE: ' + r.stderr.strip()[:300]}")
    listed = subprocess.run([binary, "models", "list", "--data-dir", data], capture_output=True, text=True).stdout
    failures += "broken" in listed
    print("nothing installed" if "broken" not in listed else f"INSTALLED: {listed}")
    r = subprocess.run([binary, "models", "add", good, "--name", "with-recipe", "--data-dir", data,
                        "--lora", os.path.join(LORA, "kohya.safetensors") + ":0.5", "--steps", "4", "--scheduler", "lcm"],
                       capture_output=True, text=True)
    listed = subprocess.run([binary, "models", "list", "--data-dir", data], capture_output=True, text=True).stdout
    shown = "lora kohya.safetensors:0.5" in listed and "4 steps" in listed and "scheduler lcm" in listed
    failures += not (r.returncode == 0 and shown)
    print(f"models add with a recipe: exit {r.returncode}, {'listed with it' if shown else 'LISTED: ' + listed + r.stderr}")
    shutil.rmtree(data, ignore_errors=True)
    return failures


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    binary = os.path.abspath(ap.parse_args().binary)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for model in ("tiny-sd1", "tiny-sd2"):
            folder = complete_model(os.path.join(MODELS, model), parent=tmp)
            for c in json.load(open(os.path.join(FIXTURES, f"{model}.cases.json"))):
                out = os.path.join(tmp, f"{model}-{c['file']}.png")
                cmd = [binary, "generate", "--model", folder, "--prompt", c["prompt"],
                       "--negative-prompt", c["negative"], "--steps", str(c["steps"]), "--seed", str(c["seed"]),
                       "--guidance", str(c["guidance"]), "--count", str(c["count"]),
                       "--width", str(c["width"]), "--height", str(c["height"]), "-o", out]
                if c["scheduler"] != "default":
                    cmd += ["--scheduler", c["scheduler"]]
                worst = worst_pixel(cmd, os.path.join(FIXTURES, c["file"]), c["shape"])
                failures += worst > 2
                print(f"{model} {c['scheduler']:>15} x{c['count']} {c['width']}x{c['height']}: worst {worst}/255")
            failures += image_to_image(binary, model, folder, tmp)
            if model == "tiny-sd1":
                failures += bad_init_images(binary, folder, tmp)
        failures += few_step(binary, tmp)
        failures += tiny_autoencoder(binary, tmp)
        failures += loras(binary, tmp)
        failures += sdxl(binary, tmp)
        fixture = held_out_fixture()
        refs = np.fromfile(os.path.join(BUNDLED_FIXTURES, "reference.u8"), dtype=np.uint8).reshape(-1, 64, 64, 3)
        for i, c in enumerate(fixture["cases"][:len(refs)]):
            got = np.array(Image.open(generate_held_out(binary, fixture, c, os.path.join(tmp, f"bundled-{i}.png")))
                           .convert("RGB"))
            worst = int(np.abs(got.astype(int) - refs[i]).max()) if got.shape == refs[i].shape else 255
            failures += worst > 2
            print(f"bundled model (no --model) {got.shape[1]}x{got.shape[0]} \"{c['prompt']}\": worst {worst}/255")
        failures += models_add_refuses_broken(binary, tmp)
    print("CLI PARITY", "OK" if failures == 0 else f"FAILED ({failures} cases)")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
