"""Training of the learned models (needs the ``train`` extra: PyTorch and onnx).

Nothing here is imported by the digitizer at run time.
"""
