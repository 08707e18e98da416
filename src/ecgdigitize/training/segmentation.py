"""Train the pixel segmenter (background / trace / grid / text) and export it to ONNX.

The network is a small U-Net. A space-to-depth stem turns each 2x2 block of the
RGB input into 12 channels, four resolution levels (widths 12-20-32-48 by
default) with two 3x3 conv + batch-norm + ReLU blocks each follow, with
bilinear upsampling and skip connections on the way back, and a 1x1 head
predicts the four class scores of each of a block's four pixels (depth-to-space),
so the output keeps the full input resolution at a quarter of the cost.

Loss: focal loss (gamma 2) plus soft Dice over trace, grid and text, both suited
to classes covering few pixels. Optimiser AdamW with a one-cycle (warm-up then
cosine) learning rate. Training data: random crops of sheets from our generator
(:mod:`ecgdigitize.training.data`), every preset. Everything random is seeded
from ``--seed``.

Run::

    python -m ecgdigitize.training.segmentation --out DIR --seed 0 --minutes 40

This writes ``DIR/segmenter.onnx`` and ``DIR/segmenter.json`` (see
``docs/training.md``). Needs the ``train`` extra (PyTorch, onnx).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shlex
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..models.segmenter import CLASS_NAMES, DEFAULT_MAX_SIDE_PX
from .data import TRAIN_PRESETS, CropRecipe, CropSet, class_fractions, load_or_build

__all__ = ["UNetConfig", "SegUNet", "TrainConfig", "EpochStats", "segmentation_loss",
           "confusion", "iou_from_confusion", "train", "export_onnx", "main"]

#: Input normalisation: ``(rgb / 255 - MEAN) / STD`` per channel.
MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)

#: Seed offset of the validation sheets (never used for training).
VAL_SEED_OFFSET = 100_000

DEFAULT_RECORDS = Path("/work/shared/data/records")


@dataclass
class UNetConfig:
    """Shape of the network.

    Parameters
    ----------
    widths : list of int
        Channels of each resolution level (first at half the input resolution).
    block : int
        Space-to-depth factor of the stem (and depth-to-space of the head).
    """

    widths: list[int] = field(default_factory=lambda: [12, 20, 32, 48])
    block: int = 2

    @property
    def pad_multiple(self) -> int:
        """Input height and width must be multiples of this, in px."""
        return self.block * 2 ** (len(self.widths) - 1)


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class SegUNet(nn.Module):
    """Small U-Net with a space-to-depth stem and a depth-to-space head.

    Parameters
    ----------
    config : UNetConfig
        Widths and block size.
    n_classes : int
        Output classes.
    """

    def __init__(self, config: UNetConfig, n_classes: int = len(CLASS_NAMES)) -> None:
        super().__init__()
        self.config = config
        b = config.block
        self.stem = nn.PixelUnshuffle(b)
        c_in = 3 * b * b
        self.encoders = nn.ModuleList()
        for w in config.widths:
            self.encoders.append(_conv_block(c_in, w))
            c_in = w
        self.decoders = nn.ModuleList()
        for w in reversed(config.widths[:-1]):
            self.decoders.append(_conv_block(c_in + w, w))
            c_in = w
        self.head = nn.Conv2d(c_in, n_classes * b * b, 1)
        self.unstem = nn.PixelShuffle(b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (N, C, H, W) of normalised images (N, 3, H, W)."""
        x = self.stem(x)
        skips = []
        for i, enc in enumerate(self.encoders):
            if i:
                x = F.max_pool2d(x, 2)
            x = enc(x)
            skips.append(x)
        for dec, skip in zip(self.decoders, reversed(skips[:-1]), strict=True):
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
            x = dec(torch.cat([x, skip], dim=1))
        return self.unstem(self.head(x))


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0,
                      dice_weight: float = 1.0, class_weights: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, dict[str, float]]:
    """Focal loss plus soft Dice (over the foreground classes).

    Parameters
    ----------
    logits : Tensor, shape (N, C, H, W)
        Class scores.
    target : Tensor, shape (N, H, W), int64
        Class codes.
    gamma : float
        Focusing parameter of the focal loss.
    dice_weight : float
        Weight of the Dice term.
    class_weights : Tensor, shape (C,), optional
        Weight of each true class in the focal term (default all 1).

    Returns
    -------
    loss : Tensor
        Scalar loss.
    parts : dict of str to float
        ``focal`` and ``dice`` values.
    """
    logp = F.log_softmax(logits, dim=1)
    logp_t = logp.gather(1, target[:, None]).squeeze(1)
    focal_px = -(1.0 - logp_t.exp()) ** gamma * logp_t
    if class_weights is not None:
        focal_px = focal_px * class_weights.to(focal_px.dtype)[target]
    focal = focal_px.mean()
    prob = logp.exp()
    onehot = F.one_hot(target, logits.shape[1]).permute(0, 3, 1, 2).to(prob.dtype)
    inter = (prob * onehot).sum(dim=(0, 2, 3))
    denom = prob.sum(dim=(0, 2, 3)) + onehot.sum(dim=(0, 2, 3))
    dice = 1.0 - (2.0 * inter + 1.0) / (denom + 1.0)
    dice_fg = dice[1:].mean()
    loss = focal * 10.0 + dice_weight * dice_fg
    return loss, {"focal": float(focal.detach()), "dice": float(dice_fg.detach())}


def confusion(pred: np.ndarray, target: np.ndarray, n: int = len(CLASS_NAMES)) -> np.ndarray:
    """Confusion matrix (rows: truth, columns: prediction), int64."""
    idx = target.astype(np.int64).ravel() * n + pred.astype(np.int64).ravel()
    return np.bincount(idx, minlength=n * n).reshape(n, n)


def iou_from_confusion(cm: np.ndarray) -> dict[str, float]:
    """Intersection over union of each class from a confusion matrix."""
    tp = np.diag(cm).astype(float)
    union = cm.sum(axis=0) + cm.sum(axis=1) - tp
    return {name: float(tp[k] / union[k]) if union[k] else float("nan")
            for k, name in enumerate(CLASS_NAMES)}


@dataclass
class TrainConfig:
    """Training hyper-parameters (all recorded in the metadata).

    Parameters
    ----------
    seed : int
        Seed of the data, the initial weights and the batch order.
    epochs : int
        Planned epochs (the learning-rate schedule spans them).
    steps_per_epoch : int
        Optimiser steps per epoch.
    batch : int
        Crops per step.
    lr : float
        Peak learning rate.
    weight_decay : float
        AdamW weight decay.
    minutes : float
        Wall-time cap of the training loop in minutes; training stops at the end
        of the epoch in which it is reached.
    device : str
        ``cpu`` or ``cuda``.
    threads : int
        CPU threads torch may use.
    val_crops_per_epoch : int
        Validation crops scored after each epoch (all of them after the last).
    text_weight : float
        Weight of text pixels in the focal term (the rarest class; others 1).
    """

    seed: int = 0
    epochs: int = 12
    steps_per_epoch: int = 50
    batch: int = 8
    lr: float = 3e-3
    weight_decay: float = 1e-4
    minutes: float = 40.0
    device: str = "cpu"
    threads: int = 2
    val_crops_per_epoch: int = 64
    text_weight: float = 1.0


@dataclass
class EpochStats:
    """One point of the training curve.

    Parameters
    ----------
    epoch : int
        Epoch number (1-based).
    steps : int
        Optimiser steps so far.
    loss : float
        Mean training loss of the epoch.
    val_iou : dict of str to float
        Validation IoU per class.
    elapsed_s : float
        Wall time since the start of training in s.
    """

    epoch: int
    steps: int
    loss: float
    val_iou: dict[str, float]
    elapsed_s: float


def _augment(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator
             ) -> tuple[np.ndarray, np.ndarray]:
    """Flips and photometric jitter of a batch (N, S, S, 3) uint8 -> float32 in [0, 1]."""
    x = images.astype(np.float32) / 255.0
    y = labels.copy()
    for i in range(x.shape[0]):
        if rng.random() < 0.5:
            x[i], y[i] = x[i, :, ::-1], y[i, :, ::-1]
        if rng.random() < 0.5:
            x[i], y[i] = x[i, ::-1], y[i, ::-1]
        gain = rng.uniform(0.8, 1.15)
        bias = rng.uniform(-0.08, 0.08)
        tint = rng.uniform(0.95, 1.05, size=3).astype(np.float32)
        x[i] = np.clip(x[i] * gain * tint + bias, 0.0, 1.0)
        if rng.random() < 0.3:
            gamma = rng.uniform(0.7, 1.4)
            x[i] = x[i] ** gamma
    return x, y


def _to_tensor(x: np.ndarray, device: str) -> torch.Tensor:
    mean = np.asarray(MEAN, np.float32)
    std = np.asarray(STD, np.float32)
    t = torch.from_numpy(np.ascontiguousarray(((x - mean) / std).transpose(0, 3, 1, 2)))
    return t.to(device)


@torch.no_grad()
def evaluate(model: nn.Module, crops: CropSet, device: str, batch: int = 4) -> dict[str, float]:
    """Validation IoU per class of a model on a crop set."""
    model.eval()
    cm = np.zeros((len(CLASS_NAMES), len(CLASS_NAMES)), np.int64)
    for i in range(0, len(crops), batch):
        x = _to_tensor(crops.images[i:i + batch].astype(np.float32) / 255.0, device)
        pred = model(x).argmax(dim=1).cpu().numpy()
        cm += confusion(pred, crops.labels[i:i + batch])
    model.train()
    return iou_from_confusion(cm)


def train(model: SegUNet, train_set: CropSet, val_set: CropSet, config: TrainConfig,
          log=print) -> list[EpochStats]:
    """Train a model in place; return the curve (one entry per epoch).

    Parameters
    ----------
    model : SegUNet
        Network (initialised from the seed by the caller).
    train_set, val_set : CropSet
        Training and validation crops.
    config : TrainConfig
        Hyper-parameters.
    log : callable
        Progress printer.

    Returns
    -------
    list of EpochStats
    """
    device = config.device
    model.to(device).train()
    rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(7,)))
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total = config.epochs * config.steps_per_epoch
    warm = max(total // 20, 1)
    weights = torch.tensor([1.0, 1.0, 1.0, config.text_weight], device=device)

    def lr_at(step: int) -> float:
        if step < warm:
            return config.lr * (step + 1) / warm
        frac = (step - warm) / max(total - warm, 1)
        return config.lr * (0.02 + 0.98 * 0.5 * (1.0 + math.cos(math.pi * frac)))

    # Each epoch is scored on an evenly spaced subset of the validation crops (time).
    every = max(len(val_set) // max(config.val_crops_per_epoch, 1), 1)
    val_epoch = CropSet(val_set.images[::every], val_set.labels[::every],
                        val_set.presets[::every])
    curve: list[EpochStats] = []
    start = time.monotonic()
    step = 0
    for epoch in range(1, config.epochs + 1):
        losses = []
        for _ in range(config.steps_per_epoch):
            idx = rng.integers(0, len(train_set), size=config.batch)
            x, y = _augment(train_set.images[idx], train_set.labels[idx], rng)
            xt = _to_tensor(x, device)
            yt = torch.from_numpy(np.ascontiguousarray(y).astype(np.int64)).to(device)
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            loss, _ = segmentation_loss(model(xt), yt, class_weights=weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            step += 1
            if step % 25 == 0:
                log(f"  epoch {epoch} step {step}/{total} loss {np.mean(losses[-25:]):.4f} "
                    f"lr {lr_at(step):.2e} {time.monotonic() - start:.0f}s")
        iou = evaluate(model, val_epoch, device)
        stats = EpochStats(epoch, step, float(np.mean(losses)), iou, time.monotonic() - start)
        curve.append(stats)
        log(f"epoch {epoch}: loss {stats.loss:.4f} val IoU "
            + " ".join(f"{k} {v:.3f}" for k, v in iou.items())
            + f" ({stats.elapsed_s:.0f}s)")
        if stats.elapsed_s > config.minutes * 60.0:
            log(f"time cap of {config.minutes} min reached after epoch {epoch}")
            break
    return curve


def export_onnx(model: SegUNet, path: str | Path, opset: int = 17) -> None:
    """Export a model (eval mode, dynamic height and width) to an ONNX file.

    Uses the TorchScript-based exporter, which needs only the ``onnx`` package.
    """
    model = model.cpu().eval()
    m = model.config.pad_multiple
    dummy = torch.zeros(1, 3, 4 * m, 4 * m)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favour of the torch.export one, which
        # would need onnxscript as well; this small static graph exports fine with it.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (dummy,), str(path), input_names=["image"],
                          output_names=["logits"], opset_version=opset, dynamo=False,
                          dynamic_axes={"image": {0: "n", 2: "height", 3: "width"},
                                        "logits": {0: "n", 2: "height", 3: "width"}})


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ecgdigitize.training.segmentation",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="output folder for segmenter.onnx/.json")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--minutes", type=float, default=40.0, help="wall-time cap of training")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--steps-per-epoch", type=int, default=50)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--text-weight", type=float, default=3.0,
                   help="weight of text pixels in the focal loss")
    p.add_argument("--widths", type=str, default="12,20,32,48",
                   help="channels per level, comma-separated")
    p.add_argument("--presets", type=str, default=",".join(TRAIN_PRESETS),
                   help="generator presets, comma-separated")
    p.add_argument("--sheets-per-preset", type=int, default=32)
    p.add_argument("--crops-per-sheet", type=int, default=20)
    p.add_argument("--crop", type=int, default=256, help="training crop side in px")
    p.add_argument("--val-sheets-per-preset", type=int, default=4)
    p.add_argument("--records", type=str, default=None,
                   help=f"WFDB records folder (default {DEFAULT_RECORDS} if present, "
                        "else the simulator); 'simulator' forces the simulator")
    p.add_argument("--cache-dir", type=str, default=None,
                   help="folder to cache generated crops in (e.g. /tmp/ecg-seg-cache)")
    p.add_argument("--workers", type=int, default=2, help="processes generating sheets")
    p.add_argument("--device", type=str, default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = _parse(argv)
    command = "python -m ecgdigitize.training.segmentation " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    t0 = time.monotonic()

    def log(msg: str) -> None:
        print(f"[{time.monotonic() - t0:7.1f}s] {msg}", flush=True)

    torch.set_num_threads(max(args.threads, 1))
    torch.manual_seed(args.seed)
    if args.records == "simulator":
        records = None
    elif args.records is not None:
        records = str(Path(args.records))
    else:
        records = str(DEFAULT_RECORDS) if DEFAULT_RECORDS.is_dir() else None
    presets = [p for p in args.presets.split(",") if p]
    train_recipe = CropRecipe(sheets_per_preset=args.sheets_per_preset, presets=presets,
                              crops_per_sheet=args.crops_per_sheet, crop_px=args.crop,
                              seed=args.seed, records=records)
    val_recipe = CropRecipe(sheets_per_preset=args.val_sheets_per_preset, presets=presets,
                            crops_per_sheet=8,
                            crop_px=384, seed=args.seed + VAL_SEED_OFFSET, records=records)
    log(f"validation crops: {asdict(val_recipe)}")
    val_set = load_or_build(val_recipe, args.cache_dir, args.workers, log)
    log(f"training crops: {asdict(train_recipe)}")
    train_set = load_or_build(train_recipe, args.cache_dir, args.workers, log)
    data_s = time.monotonic() - t0
    log(f"{len(train_set)} training crops, class fractions "
        f"{[round(f, 4) for f in class_fractions(train_set.labels)]}; data took {data_s:.0f}s")

    net_cfg = UNetConfig(widths=[int(w) for w in args.widths.split(",")])
    model = SegUNet(net_cfg)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"network {asdict(net_cfg)}: {n_params} parameters")
    cfg = TrainConfig(seed=args.seed, epochs=args.epochs, steps_per_epoch=args.steps_per_epoch,
                      batch=args.batch, lr=args.lr, minutes=args.minutes, device=args.device,
                      threads=args.threads, text_weight=args.text_weight)
    t_train = time.monotonic()
    curve = train(model, train_set, val_set, cfg, log)
    train_s = time.monotonic() - t_train
    final_iou = evaluate(model, val_set, args.device)
    log("final val IoU (all validation crops): "
        + " ".join(f"{k} {v:.3f}" for k, v in final_iou.items()))

    out = Path(args.out)
    onnx_path = out / "segmenter.onnx"
    export_onnx(model, onnx_path)
    meta: dict[str, Any] = {
        "classes": list(CLASS_NAMES),
        "input": {"name": "image", "layout": "NCHW", "channels": "RGB",
                  "scale": 1.0 / 255.0, "mean": list(MEAN), "std": list(STD)},
        "output": {"name": "logits", "layout": "NCHW", "activation": "softmax over C"},
        "pad_multiple": net_cfg.pad_multiple,
        "max_side_px": DEFAULT_MAX_SIDE_PX,
        "tile": "whole image at the working resolution (long side <= max_side_px); "
                f"trained on {args.crop}x{args.crop} px crops",
        "architecture": {"name": "SegUNet", **asdict(net_cfg), "parameters": n_params},
        "command": command,
        "seed": args.seed,
        "data": {"train": asdict(train_recipe), "val": asdict(val_recipe),
                 "train_crops": len(train_set), "val_crops": len(val_set),
                 "train_class_fractions": class_fractions(train_set.labels),
                 "generation_s": round(data_s, 1)},
        "training": {**asdict(cfg), "loss": "10 * focal(gamma=2, text pixels weighted text_weight) "
                             "+ soft Dice(trace, grid, text)",
                     "optimizer": "AdamW, linear warm-up then cosine to 2% of peak",
                     "augmentation": "h/v flips, gain, bias, tint, gamma",
                     "wall_s": round(train_s, 1), "steps": curve[-1].steps if curve else 0,
                     "torch": torch.__version__, "python": platform.python_version(),
                     "machine": platform.machine()},
        "curve": [asdict(c) for c in curve],
        "final_val_iou": final_iou,
    }
    (out / "segmenter.json").write_text(json.dumps(meta, indent=2) + "\n")
    size_kb = onnx_path.stat().st_size / 1024
    log(f"wrote {onnx_path} ({size_kb:.0f} KiB) and {out / 'segmenter.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
