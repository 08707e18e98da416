"""Regenerate the preset sample images shown in the README.

Run: ``.venv/bin/python scripts/make_readme_images.py``
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ecgdigitize.simulator import random_params, simulate_ecg
from ecgdigitize.synth.presets import PRESETS, sample_spec
from ecgdigitize.synth.sheet import generate_sheet

OUT = Path(__file__).resolve().parents[1] / "docs" / "images"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for k, preset in enumerate(PRESETS):
        rng = np.random.default_rng(100 + k)
        rec = simulate_ecg(rng, 10.0, 500.0, random_params(rng), name=preset)
        spec = sample_spec(preset, rng)
        sheet = generate_sheet(rec, spec, rng=rng, seed=100 + k)
        img = sheet.canvas.image[:, :, ::-1]
        scale = 900.0 / img.shape[1]
        small = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(OUT / f"preset-{preset}.jpg"), small, [cv2.IMWRITE_JPEG_QUALITY, 82])
        cls = sheet.canvas.classes
        palette = np.array([[255, 255, 255], [0, 0, 0], [120, 120, 240], [40, 160, 40]],
                           np.uint8)
        if preset == "degraded":
            mask = palette[cls][:, :, ::-1]
            small = cv2.resize(mask, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
            cv2.imwrite(str(OUT / "preset-degraded-classes.png"), small)
        print(preset, spec.preset, spec.render.layout, f"{spec.render.dpi:g} dpi")


if __name__ == "__main__":
    main()
