"""Training data for the segmenter: random crops of sheets from our own generator.

Sheets are generated in memory (no files), brought to the working resolution the
segmenter runs at (:func:`ecgdigitize.models.segmenter.working_scale`), and cut into
square crops. Half of the crops are centred on a trace pixel, the other half are
placed uniformly, so the rare trace class is well represented without losing the
paper, margin and scene background.

Sheet ``i`` of a recipe is generated from its own child seed of the recipe seed
(:class:`numpy.random.SeedSequence`), so a set is the same whatever the number of
worker processes. This module needs numpy and OpenCV only (no torch).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..models.segmenter import DEFAULT_MAX_SIDE_PX, working_scale
from ..synth.canvas import TRACE
from ..synth.dataset import _load, list_record_sources
from ..synth.presets import sample_spec
from ..synth.sheet import generate_sheet

__all__ = ["CropRecipe", "CropSet", "downscale_labels", "sheet_crops", "build_crops",
           "load_or_build"]

#: The generator presets the training data is drawn from (``mixed`` draws among the others).
TRAIN_PRESETS: tuple[str, ...] = ("photo", "degraded", "overlap", "bw-scan", "clean-scan", "mixed")

#: Fraction of a working pixel a trace must cover to label it trace after downscaling.
TRACE_COVER = 0.3


@dataclass
class CropRecipe:
    """How a crop set is made; stored in the model's metadata.

    Parameters
    ----------
    sheets_per_preset : int
        Sheets generated for each preset.
    presets : list of str
        Generator presets.
    crops_per_sheet : int
        Crops cut from each sheet.
    crop_px : int
        Side of a square crop in working px.
    trace_centred : float
        Fraction of crops centred on a trace pixel.
    seed : int
        Seed of the set (sheet ``i`` uses child ``i`` of ``SeedSequence(seed)``).
    records : str or None
        Folder of WFDB records the signals come from; None for the simulator.
    max_side_px : int
        Long side a sheet is scaled down to (working resolution), in px.
    """

    sheets_per_preset: int
    presets: list[str] = field(default_factory=lambda: list(TRAIN_PRESETS))
    crops_per_sheet: int = 16
    crop_px: int = 256
    trace_centred: float = 0.5
    seed: int = 0
    records: str | None = None
    max_side_px: int = DEFAULT_MAX_SIDE_PX

    def key(self) -> str:
        """Short hash of the recipe (cache file name)."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]


@dataclass
class CropSet:
    """Crops with their labels.

    Parameters
    ----------
    images : ndarray, shape (N, S, S, 3), uint8
        RGB crops.
    labels : ndarray, shape (N, S, S), uint8
        Class codes 0 background, 1 trace, 2 grid, 3 text.
    presets : ndarray, shape (N,), str
        Preset of the sheet each crop comes from.
    """

    images: np.ndarray
    labels: np.ndarray
    presets: np.ndarray

    def __len__(self) -> int:
        return int(self.images.shape[0])


def downscale_labels(classes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Class map at a lower resolution, keeping thin traces connected.

    Each class's coverage of a working pixel is its area-averaged indicator; the
    label is the class of largest coverage, except that a pixel a trace covers by
    at least :data:`TRACE_COVER` is trace (a 0.2 mm pen line must not vanish).

    Parameters
    ----------
    classes : ndarray, shape (H, W), uint8
        Class codes at the native resolution.
    size : tuple of int
        Target ``(width, height)`` in px.

    Returns
    -------
    ndarray, shape (height, width), uint8
    """
    onehot = np.stack([(classes == k).astype(np.float32) for k in range(4)], axis=-1)
    cover = cv2.resize(onehot, size, interpolation=cv2.INTER_AREA)
    labels = np.argmax(cover, axis=-1).astype(np.uint8)
    labels[cover[..., TRACE] >= TRACE_COVER] = TRACE
    return labels


def sheet_crops(source: str, preset: str, seed_seq: np.random.SeedSequence, n_crops: int,
                crop_px: int, trace_centred: float, max_side_px: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """Generate one sheet and cut it into crops at the working resolution.

    Parameters
    ----------
    source : str
        Record path, or ``"simulator"``.
    preset : str
        Generator preset.
    seed_seq : numpy.random.SeedSequence
        Seed of this sheet (fixes the sheet and the crop positions).
    n_crops : int
        Number of crops.
    crop_px : int
        Crop side in working px.
    trace_centred : float
        Fraction of crops centred on a trace pixel.
    max_side_px : int
        Working long side in px.

    Returns
    -------
    images : ndarray, shape (n_crops, crop_px, crop_px, 3), uint8
    labels : ndarray, shape (n_crops, crop_px, crop_px), uint8
    """
    rng = np.random.default_rng(seed_seq)
    record, origin = _load(source, rng, int(seed_seq.spawn_key[-1]) if seed_seq.spawn_key else 0)
    spec = sample_spec(preset, rng)
    sheet = generate_sheet(record, spec, rng=rng, seed=int(seed_seq.generate_state(1)[0]),
                           source=origin)
    image, classes = sheet.canvas.image, sheet.canvas.classes
    h, w = classes.shape
    scale = working_scale((h, w), max_side_px)
    if scale < 1.0:
        size = (max(int(round(w * scale)), 1), max(int(round(h * scale)), 1))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        classes = downscale_labels(classes, size)
        h, w = classes.shape
    pad_y, pad_x = max(crop_px - h, 0), max(crop_px - w, 0)
    if pad_y or pad_x:
        image = np.pad(image, ((0, pad_y), (0, pad_x), (0, 0)), constant_values=255)
        classes = np.pad(classes, ((0, pad_y), (0, pad_x)))
        h, w = classes.shape
    ty, tx = np.nonzero(classes == TRACE)
    images = np.empty((n_crops, crop_px, crop_px, 3), np.uint8)
    labels = np.empty((n_crops, crop_px, crop_px), np.uint8)
    for i in range(n_crops):
        if ty.size and rng.random() < trace_centred:
            j = int(rng.integers(ty.size))
            y0 = int(ty[j]) - crop_px // 2 + int(rng.integers(-crop_px // 4, crop_px // 4 + 1))
            x0 = int(tx[j]) - crop_px // 2 + int(rng.integers(-crop_px // 4, crop_px // 4 + 1))
        else:
            y0 = int(rng.integers(0, h - crop_px + 1))
            x0 = int(rng.integers(0, w - crop_px + 1))
        y0 = min(max(y0, 0), h - crop_px)
        x0 = min(max(x0, 0), w - crop_px)
        images[i] = image[y0:y0 + crop_px, x0:x0 + crop_px]
        labels[i] = classes[y0:y0 + crop_px, x0:x0 + crop_px]
    return images, labels


def _task(args: tuple) -> tuple[np.ndarray, np.ndarray]:
    return sheet_crops(*args)


def build_crops(recipe: CropRecipe, workers: int = 2, log=print) -> CropSet:
    """Generate the crop set of a recipe.

    Parameters
    ----------
    recipe : CropRecipe
        What to generate.
    workers : int
        Worker processes.
    log : callable
        Called with a progress line now and then.

    Returns
    -------
    CropSet
    """
    sources = list_record_sources(recipe.records)
    root = np.random.SeedSequence(recipe.seed)
    order = np.random.default_rng(root.spawn(1)[0]).permutation(len(sources))
    n = recipe.sheets_per_preset * len(recipe.presets)
    children = np.random.SeedSequence(recipe.seed, spawn_key=(1,)).spawn(n)
    tasks, names = [], []
    for i in range(n):
        preset = recipe.presets[i % len(recipe.presets)]
        tasks.append((sources[order[i % len(sources)]], preset, children[i],
                      recipe.crops_per_sheet, recipe.crop_px, recipe.trace_centred,
                      recipe.max_side_px))
        names.append(preset)
    if workers <= 1:
        results = map(_task, tasks)
        out = _collect(results, n, log)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            out = _collect(pool.map(_task, tasks, chunksize=1), n, log)
    images = np.concatenate([o[0] for o in out])
    labels = np.concatenate([o[1] for o in out])
    presets = np.repeat(np.asarray(names), recipe.crops_per_sheet)
    return CropSet(images, labels, presets)


def _collect(results, n: int, log) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for i, item in enumerate(results):
        out.append(item)
        if (i + 1) % 10 == 0 or i + 1 == n:
            log(f"  sheets {i + 1}/{n}")
    return out


def load_or_build(recipe: CropRecipe, cache_dir: str | Path | None, workers: int = 2,
                  log=print) -> CropSet:
    """The crop set of a recipe, from an ``.npz`` cache when one exists.

    Parameters
    ----------
    recipe : CropRecipe
        What to generate.
    cache_dir : str or Path, optional
        Folder of the cache (e.g. under /tmp); no cache when None.
    workers : int
        Worker processes for generation.
    log : callable
        Progress printer.

    Returns
    -------
    CropSet
    """
    path = None if cache_dir is None else Path(cache_dir) / f"crops_{recipe.key()}.npz"
    if path is not None and path.is_file():
        with np.load(path) as z:
            log(f"  crops from cache {path}")
            return CropSet(z["images"], z["labels"], z["presets"])
    crops = build_crops(recipe, workers, log)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, images=crops.images, labels=crops.labels, presets=crops.presets)
        tmp.replace(path)
    return crops


def class_fractions(labels: np.ndarray | Sequence[np.ndarray]) -> list[float]:
    """Fraction of pixels of each class (0..3) in a label array."""
    counts = np.bincount(np.asarray(labels).ravel(), minlength=4)[:4].astype(float)
    return (counts / max(counts.sum(), 1.0)).tolist()
