"""Learned models run with onnxruntime (no PyTorch needed at run time)."""

from .segmenter import CLASS_NAMES, Segmentation, Segmenter, working_scale

__all__ = ["CLASS_NAMES", "Segmentation", "Segmenter", "working_scale"]
