"""Learned pixel segmenter: background / trace / grid / text, run with onnxruntime.

The network is a small U-Net trained only on sheets from our own generator (see
:mod:`ecgdigitize.training.segmentation` and ``docs/training.md``). It is shipped
as ONNX next to a JSON metadata file and needs numpy, OpenCV and onnxruntime at
run time, not PyTorch.

Resolution. Sheets are scanned at 150-600 dpi and pen lines are 0.2-0.45 mm
wide (about 1.2 px at 150 dpi). The network sees the image at its native
resolution unless the long side exceeds the model's ``max_side_px`` (2300 px,
about 210 dpi on a letter sheet); larger images are scaled down to it, so a
600 dpi scan runs as fast as a 200 dpi one and its lines stay at least about
1.5 px wide. The network itself turns each 2x2 block of pixels into channels
(space-to-depth) and predicts each block's four pixels back at the end, so its
output has the full working resolution. Probabilities are scaled back to the
input size with bilinear interpolation.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np

from ..digitize.separate import Separation
from ..errors import ModelError

__all__ = [
    "CLASS_NAMES",
    "DEFAULT_MAX_SIDE_PX",
    "DEFAULT_MODEL_PATH",
    "Segmentation",
    "Segmenter",
    "working_scale",
]

#: Class names in the order of the network's output channels.
CLASS_NAMES: tuple[str, ...] = ("background", "trace", "grid", "text")
BACKGROUND, TRACE, GRID, TEXT = 0, 1, 2, 3

#: Long side (px) above which an image is scaled down before segmentation.
DEFAULT_MAX_SIDE_PX = 2300

#: The model shipped with the package.
DEFAULT_MODEL_PATH = Path(__file__).resolve().parent.parent / "data" / "models" / "segmenter.onnx"


def working_scale(shape: tuple[int, int], max_side_px: int = DEFAULT_MAX_SIDE_PX) -> float:
    """Factor (<= 1) an image is resized by before it enters the network.

    Parameters
    ----------
    shape : tuple of int
        Image height and width in px.
    max_side_px : int
        Largest long side the network runs at, in px.

    Returns
    -------
    float
        1.0 when the long side is at most `max_side_px`, else ``max_side_px / long side``.
    """
    long_side = max(int(shape[0]), int(shape[1]))
    return 1.0 if long_side <= max_side_px else float(max_side_px) / long_side


@dataclass
class Segmentation:
    """Per-pixel class probabilities of one image.

    Parameters
    ----------
    probabilities : ndarray, shape (4, H, W), float32
        Probability of background, trace, grid and text (one plane per class, in
        the order of :data:`CLASS_NAMES`); sums to 1 over the planes at each pixel.
    scale : float
        Factor the image was resized by for the network (1.0 at native resolution).
    """

    probabilities: np.ndarray
    scale: float

    @property
    def labels(self) -> np.ndarray:
        """Most probable class per pixel, shape (H, W), uint8 (0..3); ties go to the
        lower class code, as with :func:`numpy.argmax`."""
        p = self.probabilities
        best = p[0].copy()
        labels = np.zeros(best.shape, np.uint8)
        for k in range(1, p.shape[0]):
            better = p[k] > best
            labels[better] = k
            np.maximum(best, p[k], out=best)
        return labels

    def to_separation(self, include_text: bool = False) -> Separation:
        """The classical stages' interface filled from the network's output.

        ``trace`` is where trace is the most probable class, ``ink`` the trace
        probability, ``grid`` the grid probability; the grid never counts as ink
        (``grid_is_ink`` False) and the threshold on ``ink`` is 0.5.

        Parameters
        ----------
        include_text : bool
            Count printed text as ink too (``trace`` is then trace or text and
            ``ink`` the sum of their probabilities), as the classical separator
            does; stages that read lead names from the ink mask need it.
        """
        p = self.probabilities
        labels = self.labels
        if include_text:
            return Separation(ink=p[TRACE] + p[TEXT], trace=(labels == TRACE) | (labels == TEXT),
                              grid=p[GRID], grid_is_ink=False, ink_threshold=0.5)
        return Separation(ink=p[TRACE], trace=labels == TRACE, grid=p[GRID],
                          grid_is_ink=False, ink_threshold=0.5)


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise ModelError("the learned segmenter needs onnxruntime; install it with "
                         "'pip install onnxruntime'") from exc
    return onnxruntime


#: Exception classes of onnxruntime's C++ layer (they derive from Exception directly).
_ORT_ERROR_NAMES = ("Fail", "InvalidArgument", "NoSuchFile", "NoModel", "EngineError",
                    "RuntimeException", "InvalidProtobuf", "ModelLoaded", "NotImplemented",
                    "InvalidGraph", "EPFail")


def _ort_errors(ort: Any) -> tuple[type[BaseException], ...]:
    """The exceptions onnxruntime raises for a bad model or a failed run."""
    state = getattr(getattr(ort, "capi", None), "onnxruntime_pybind11_state", None)
    found = [getattr(state, n) for n in _ORT_ERROR_NAMES if hasattr(state, n)]
    return (RuntimeError, OSError, ValueError, *found)


class Segmenter:
    """A loaded segmentation model.

    The ONNX session is created on first use and kept by the object, so one
    :class:`Segmenter` per process serves every image. :meth:`default` returns
    a shared instance of the shipped model.

    Parameters
    ----------
    path : str or Path
        The ``.onnx`` file; its metadata is read from the ``.json`` file of the
        same name.
    threads : int
        Threads onnxruntime may use; 0 for its default (all cores).
    """

    _default: ClassVar[Segmenter | None] = None
    _default_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: str | Path = DEFAULT_MODEL_PATH, threads: int = 0) -> None:
        self.path = Path(path)
        self.threads = int(threads)
        self._session: Any = None
        self._errors: tuple[type[BaseException], ...] = (RuntimeError,)
        self._pid = -1
        self._meta: dict[str, Any] | None = None
        self._lock = threading.Lock()

    @classmethod
    def default(cls) -> Segmenter:
        """The shipped model, loaded once per process."""
        with cls._default_lock:
            if cls._default is None:
                cls._default = cls(DEFAULT_MODEL_PATH)
            return cls._default

    @property
    def metadata(self) -> dict[str, Any]:
        """The model's JSON metadata (classes, normalisation, training record)."""
        if self._meta is None:
            meta_path = self.path.with_suffix(".json")
            try:
                meta = json.loads(meta_path.read_text())
            except FileNotFoundError:
                raise ModelError(f"{meta_path}: segmenter metadata file not found") from None
            except (OSError, ValueError) as exc:
                raise ModelError(f"{meta_path}: unreadable segmenter metadata ({exc})") from None
            missing = {"classes", "input", "pad_multiple"} - set(meta)
            if missing:
                raise ModelError(f"{meta_path}: metadata lacks {', '.join(sorted(missing))}")
            if list(meta["classes"]) != list(CLASS_NAMES):
                raise ModelError(f"{meta_path}: classes {meta['classes']} are not "
                                 f"{list(CLASS_NAMES)}")
            self._meta = meta
        return self._meta

    def _get_session(self) -> Any:
        with self._lock:
            # A session must not cross a fork (its thread pool does not survive it).
            if self._session is None or self._pid != os.getpid():
                meta = self.metadata
                ort = _import_onnxruntime()
                if not self.path.is_file():
                    raise ModelError(f"{self.path}: segmenter model file not found")
                options = ort.SessionOptions()
                options.intra_op_num_threads = self.threads
                options.inter_op_num_threads = 1
                options.log_severity_level = 3
                try:
                    session = ort.InferenceSession(str(self.path), options,
                                                   providers=["CPUExecutionProvider"])
                except _ort_errors(ort) as exc:
                    raise ModelError(f"{self.path}: not a loadable ONNX model "
                                     f"({type(exc).__name__})") from exc
                if session.get_inputs()[0].name != meta["input"].get("name", "image"):
                    raise ModelError(f"{self.path}: unexpected input "
                                     f"{session.get_inputs()[0].name!r}")
                self._session, self._pid, self._errors = session, os.getpid(), _ort_errors(ort)
            return self._session

    def load(self) -> Segmenter:
        """Load the model now (else on first use); return self."""
        self._get_session()
        return self

    def segment(self, image: np.ndarray) -> Segmentation:
        """Class probabilities of every pixel of an RGB image.

        Parameters
        ----------
        image : ndarray, shape (H, W, 3), uint8
            RGB image at any resolution.

        Returns
        -------
        Segmentation
            Probabilities at the input's size.

        Raises
        ------
        ModelError
            If the model cannot be loaded or run.
        """
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} "
                             f"{image.dtype}")
        session = self._get_session()
        meta = self.metadata
        h, w = image.shape[:2]
        scale = working_scale((h, w), int(meta.get("max_side_px", DEFAULT_MAX_SIDE_PX)))
        work = image
        if scale < 1.0:
            size = (max(int(round(w * scale)), 1), max(int(round(h * scale)), 1))
            work = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        probs = _softmax_planes(self._run(session, work, meta))
        if scale < 1.0:
            probs = np.stack([cv2.resize(plane, (w, h), interpolation=cv2.INTER_LINEAR)
                              for plane in probs])
        return Segmentation(probabilities=probs, scale=scale)

    def separate(self, image: np.ndarray) -> Separation:
        """:func:`ecgdigitize.digitize.separate.separate`'s result from the network."""
        return self.segment(image).to_separation()

    def _run(self, session: Any, image: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
        """Logits (4, H, W) float32 of an image at the working resolution."""
        h, w = image.shape[:2]
        m = int(meta["pad_multiple"])
        ph, pw = -h % m, -w % m
        x = image
        if ph or pw:
            x = cv2.copyMakeBorder(image, 0, ph, 0, pw, cv2.BORDER_REFLECT_101
                                   if min(h, w) > 1 else cv2.BORDER_REPLICATE)
        mean = np.asarray(meta["input"]["mean"], np.float32)
        std = np.asarray(meta["input"]["std"], np.float32)
        x = (x.astype(np.float32) * (1.0 / 255.0) - mean) / std
        x = np.ascontiguousarray(x.transpose(2, 0, 1)[None])
        name = session.get_inputs()[0].name
        try:
            (out,) = session.run(None, {name: x})
        except self._errors as exc:
            raise ModelError(f"{self.path}: inference failed ({type(exc).__name__}: {exc})"
                             ) from exc
        return np.ascontiguousarray(out[0, :, :h, :w], dtype=np.float32)


def _softmax_planes(logits: np.ndarray) -> np.ndarray:
    """Softmax over the first axis of (C, H, W) float32 logits, in place; returns them."""
    top = logits[0].copy()
    for plane in logits[1:]:
        np.maximum(top, plane, out=top)
    logits -= top
    np.exp(logits, out=logits)
    total = logits.sum(axis=0)
    np.reciprocal(total, out=total)
    logits *= total
    return logits
