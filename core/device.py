"""Choosing the torch device: CUDA when present, else Apple MPS, else CPU."""

from __future__ import annotations

import contextlib

import torch


def pick_device(preference: str = "auto") -> torch.device:
    """Return the device to run on.

    Args:
        preference: ``"auto"`` (CUDA, then MPS, then CPU), or an explicit torch device
            string such as ``"cpu"`` or ``"cuda:1"``.

    Raises:
        ValueError: an explicit device that this machine does not have.
    """
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {preference!r} requested but CUDA is not available here")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {preference!r} requested but MPS is not available here")
    return device


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """Mixed precision on CUDA (float16), a no-op context elsewhere: one code path."""
    enabled = device.type == "cuda"
    return torch.autocast(device_type=device.type, dtype=torch.float16, enabled=enabled)
