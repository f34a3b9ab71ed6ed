"""The synthetic "shapes" world of Easel's bundled model: pictures, captions and the image analysis
that reads a picture back (used to check the VAE, the trained model and, mirrored in Swift,
Tests/EaselDiffusionTests/BundledModelTests.swift).

A picture is 64x64: one shape (circle, square, triangle, star) of one colour on a plain background
of another colour, small or big, at one of nine places (the centre, the four sides, the four
corners). Colours carry a little jitter so the model does not learn eight exact RGB values.
"""
import math

import numpy as np
from PIL import Image, ImageDraw

SIZE = 64
SUPERSAMPLE = 4

COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (30, 60, 220),
    "yellow": (245, 220, 40),
    "white": (245, 245, 245),
    "black": (15, 15, 15),
    "orange": (250, 130, 20),
    "purple": (135, 40, 175),
}
SHAPES = ["circle", "square", "triangle", "star"]
# (column, row) in a 3x3 grid.
POSITIONS = {
    "top left": (0, 0), "top": (1, 0), "top right": (2, 0),
    "left": (0, 1), "centre": (1, 1), "right": (2, 1),
    "bottom left": (0, 2), "bottom": (1, 2), "bottom right": (2, 2),
}
SIZES = {"small": 7.5, "big": 12.0}
GRID = (14.0, 32.0, 50.0)  # shape centres per column/row, in pixels
JITTER = 3.0
COLOUR_JITTER = 10


def all_triples():
    return [(s, c, b) for s in SHAPES for c in COLOURS for b in COLOURS if b != c]


def held_out_triples(count=24, seed=2026):
    """(shape, colour, background) combinations never drawn in training; every pair of them is."""
    rng = np.random.default_rng(seed)
    triples = all_triples()
    while True:
        pick = [triples[i] for i in rng.choice(len(triples), size=count, replace=False)]
        rest = set(triples) - set(pick)
        pairs_ok = all(
            any(t[i] == p[i] and t[j] == p[j] for t in rest)
            for p in pick for (i, j) in ((0, 1), (0, 2), (1, 2)))
        if pairs_ok:
            return sorted(pick)


def _outline(shape, cx, cy, r):
    if shape == "circle":
        return None
    if shape == "square":
        h = 0.9 * r
        return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    if shape == "triangle":
        R = 1.3 * r
        return [(cx + R * math.cos(a), cy + R * math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
    if shape == "star":
        outer, inner = 1.4 * r, 0.7 * r
        return [(cx + (outer if k % 2 == 0 else inner) * math.cos(-math.pi / 2 + k * math.pi / 5),
                 cy + (outer if k % 2 == 0 else inner) * math.sin(-math.pi / 2 + k * math.pi / 5)) for k in range(10)]
    raise ValueError(shape)


def _extent(shape, r):
    """Half-width of the shape's bounding box (the most it reaches from its centre)."""
    return {"circle": r, "square": 0.9 * r, "triangle": 1.3 * r, "star": 1.4 * r}[shape]


def render(shape, colour, background, position, size, rng):
    """uint8 [64,64,3] picture and a float [64,64] coverage mask of the shape."""
    col, row = POSITIONS[position]
    r = SIZES[size] * rng.uniform(0.92, 1.08)
    ext = _extent(shape, r)
    cx = GRID[col] + rng.uniform(-JITTER, JITTER)
    cy = GRID[row] + rng.uniform(-JITTER, JITTER)
    cx = min(max(cx, ext + 1), SIZE - 1 - ext)
    cy = min(max(cy, ext + 1), SIZE - 1 - ext)
    jitter = lambda rgb: tuple(int(np.clip(v + rng.integers(-COLOUR_JITTER, COLOUR_JITTER + 1), 0, 255)) for v in rgb)
    s = SUPERSAMPLE
    mask = Image.new("L", (SIZE * s, SIZE * s), 0)
    draw = ImageDraw.Draw(mask)
    pts = _outline(shape, cx * s, cy * s, r * s)
    if pts is None:
        draw.ellipse([(cx - r) * s, (cy - r) * s, (cx + r) * s, (cy + r) * s], fill=255)
    else:
        draw.polygon(pts, fill=255)
    cover = np.asarray(mask.resize((SIZE, SIZE), Image.BOX), dtype=np.float32) / 255.0
    fg = np.array(jitter(COLOURS[colour]), dtype=np.float32)
    bg = np.array(jitter(COLOURS[background]), dtype=np.float32)
    img = cover[..., None] * fg + (1 - cover[..., None]) * bg
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), cover


# ---- captions ----

POSITION_WORDS = {
    "top left": ["in the top left corner", "at the top left", "in the upper left corner", "top left corner"],
    "top right": ["in the top right corner", "at the top right", "in the upper right corner", "top right corner"],
    "bottom left": ["in the bottom left corner", "at the bottom left", "in the lower left corner", "bottom left corner"],
    "bottom right": ["in the bottom right corner", "at the bottom right", "in the lower right corner",
                     "bottom right corner"],
    "top": ["at the top", "at the top of the picture", "in the top", "on top"],
    "bottom": ["at the bottom", "at the bottom of the picture", "in the bottom", "along the bottom"],
    "left": ["on the left", "at the left", "to the left", "on the left side"],
    "right": ["on the right", "at the right", "to the right", "on the right side"],
    "centre": ["in the centre", "in the center", "in the middle", "at the centre", "at the center", "centred",
               "centered"],
}


def shape_phrase(shape, colour, size, rng):
    parts = [colour, shape] if size is None else [size, colour, shape]
    if size is not None and rng.random() < 0.15:
        parts = [size if size == "small" else rng.choice(["big", "large"]), colour, shape]
    article = rng.choice(["a", "a", "one", ""])
    return " ".join([article] + parts if article else parts)


def background_phrase(background, rng):
    return rng.choice([f"on a {background} background", f"with a {background} background",
                       f"against a {background} background", f"on {background}"])


def caption(shape, colour, background, position, size, rng, keep=None):
    """A caption in varied wording. `keep` forces which of size/position/background are said
    (a dict of booleans); by default each is left out now and then."""
    keep = keep or {"size": rng.random() < 0.6, "position": rng.random() < 0.8, "background": rng.random() < 0.8}
    sp = shape_phrase(shape, colour, size if keep["size"] else None, rng)
    pos = rng.choice(POSITION_WORDS[position]) if keep["position"] else None
    bgw = background if keep["background"] else None
    forms = []
    if pos and bgw:
        forms = [f"{sp} {pos} {background_phrase(bgw, rng)}",
                 f"{sp} {background_phrase(bgw, rng)} {pos}",
                 f"{bgw} background, {sp} {pos}",
                 f"a {bgw} background with {sp} {pos}",
                 f"{pos}, {sp} {background_phrase(bgw, rng)}",
                 f"{sp} {pos}, {bgw} background"]
    elif pos:
        forms = [f"{sp} {pos}", f"{pos}, {sp}", f"{sp} placed {pos}"]
    elif bgw:
        forms = [f"{sp} {background_phrase(bgw, rng)}", f"{bgw} background, {sp}",
                 f"a {bgw} background with {sp}"]
    else:
        forms = [sp, f"a picture of {sp}", f"{sp}, simple shape"]
    text = rng.choice(forms).strip()
    return " ".join(text.split())


def sample_attributes(rng, excluded=()):
    excluded = set(excluded)
    while True:
        shape = SHAPES[rng.integers(len(SHAPES))]
        names = list(COLOURS)
        colour = names[rng.integers(len(names))]
        background = names[rng.integers(len(names))]
        if background == colour or (shape, colour, background) in excluded:
            continue
        position = list(POSITIONS)[rng.integers(len(POSITIONS))]
        size = list(SIZES)[rng.integers(len(SIZES))]
        return shape, colour, background, position, size


# ---- reading a picture back ----

def nearest_colour(rgb):
    names = list(COLOURS)
    ref = np.array([COLOURS[n] for n in names], dtype=np.float32)
    d = ((np.asarray(rgb, dtype=np.float32)[..., None, :] - ref) ** 2).sum(-1)
    return np.array(names)[d.argmin(-1)]


def analyse(img):
    """What a [64,64,3] uint8 picture shows: background colour (the most common nearest palette
    colour of the border), shape colour (the most common nearest palette colour among pixels far from
    the background), the shape's centroid's grid cell as a position name, and a shape guess."""
    img = np.asarray(img, dtype=np.float32)
    labels = nearest_colour(img)
    border = np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])
    names, counts = np.unique(border, return_counts=True)
    background = names[counts.argmax()]
    bg_rgb = np.array(COLOURS[background], dtype=np.float32)
    dist = np.sqrt(((img - bg_rgb) ** 2).sum(-1))
    fg = (dist > 40) & (labels != background)
    if fg.sum() < 6:
        return {"background": str(background), "colour": None, "position": None, "shape": None, "pixels": int(fg.sum())}
    names, counts = np.unique(labels[fg], return_counts=True)
    colour = names[counts.argmax()]
    mask = fg & (labels == colour)
    ys, xs = np.nonzero(mask)
    cx, cy = xs.mean() + 0.5, ys.mean() + 0.5
    col = min(int(cx / (SIZE / 3)), 2)
    row = min(int(cy / (SIZE / 3)), 2)
    position = next(p for p, cr in POSITIONS.items() if cr == (col, row))
    return {"background": str(background), "colour": str(colour), "position": position,
            "shape": guess_shape(mask), "pixels": int(mask.sum())}


def guess_shape(mask):
    """Circle/square/triangle/star from how much of its bounding box the shape fills and where."""
    ys, xs = np.nonzero(mask)
    w, h = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
    fill = mask.sum() / float(w * h)
    if fill > 0.9:
        return "square"
    if fill > 0.68:
        return "circle"
    # triangle: widest along its bottom edge; star: widest across its arms, a third of the way down
    widths = mask[ys.min(): ys.max() + 1].sum(1)
    widest = np.flatnonzero(widths >= 0.9 * widths.max()).mean() / max(1, h - 1)
    return "triangle" if widest > 0.7 else "star"
