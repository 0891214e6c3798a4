"""Customer photos: a pool of portrait-like JPEG images (head and shoulders), drawn with Pillow."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw


def draw_avatars(seed: int, count: int) -> list[bytes]:
    """A pool of portrait-like JPEG images (head and shoulders), so profiles carry real binary photos."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 9_999]))
    skins = [(255, 224, 196), (234, 192, 134), (198, 134, 66), (141, 85, 36), (96, 58, 30), (241, 194, 125)]
    hairs = [(35, 25, 20), (90, 56, 37), (170, 120, 60), (220, 200, 150), (120, 120, 120), (60, 30, 20)]
    images = []
    for _ in range(count):
        size = 240
        background = tuple(int(c) for c in rng.integers(150, 235, 3))
        img = Image.new("RGB", (size, size), background)
        pen = ImageDraw.Draw(img)
        skin = skins[int(rng.integers(0, len(skins)))]
        hair = hairs[int(rng.integers(0, len(hairs)))]
        shirt = tuple(int(c) for c in rng.integers(20, 200, 3))
        long_hair = rng.random() < 0.5
        pen.ellipse((40, 170, 200, 330), fill=shirt)
        pen.rectangle((102, 140, 138, 185), fill=skin)
        if long_hair:
            pen.rounded_rectangle((62, 50, 178, 190), radius=40, fill=hair)
        pen.ellipse((72, 52, 168, 168), fill=skin)
        pen.chord((68, 40, 172, 120), 180, 360, fill=hair)
        for eye_x in (98, 142):
            pen.ellipse((eye_x - 5, 100, eye_x + 5, 110), fill=(40, 30, 30))
        pen.arc((100, 115, 140, 145), 20, 160, fill=(150, 60, 60), width=3)
        buffer = io.BytesIO()
        img.save(buffer, format="JPEG", quality=85)
        images.append(buffer.getvalue())
    return images
