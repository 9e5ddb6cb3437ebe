"""Ridge regression in closed form, and the map-to-box regressor built on it.

The sensitivity-analysis paper (Interpreting Deep Neural Network: Fast Object
Localization via Sensitivity Analysis, §2.4) learns a linear map from a saliency map to the
four box coordinates from a few labelled boxes; with as few as a user's first accepted
boxes, the L2 penalty is what keeps it from fitting noise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np
import torch


@dataclass(frozen=True)
class RidgeModel:
    """``y = ((x - mean) / scale) @ weights + bias``.

    Attributes:
        mean, scale: ``(D,)`` standardisation of the inputs.
        weights: ``(D, T)``.
        bias: ``(T,)`` (not penalised).
    """

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: np.ndarray

    def predict(self, x: np.ndarray) -> np.ndarray:
        """``(N, D)`` → ``(N, T)``."""
        return ((x - self.mean) / self.scale) @ self.weights + self.bias


#: The fields of a :class:`RidgeModel`, as a model file stores them.
RIDGE_FIELDS = ("mean", "scale", "weights", "bias")


def ridge_state(model: RidgeModel, prefix: str = "") -> dict[str, torch.Tensor]:
    """The model's arrays as tensors named ``prefix + field``."""
    return {prefix + k: torch.from_numpy(np.asarray(getattr(model, k))) for k in RIDGE_FIELDS}


def ridge_from_state(state: Mapping[str, torch.Tensor], prefix: str = "") -> RidgeModel:
    return RidgeModel(*(state[prefix + k].numpy() for k in RIDGE_FIELDS))


def fit_ridge(x: np.ndarray, y: np.ndarray, alpha: float) -> RidgeModel:
    """Minimise ``‖Xs W + b − Y‖² + alpha · N · ‖W‖²`` for standardised ``Xs``.

    Solved in the dual when there are fewer samples than features (``W = Xsᵀ (Xs Xsᵀ +
    λI)⁻¹ Yc``), in the primal otherwise; both are the same closed form.

    Args:
        x: ``(N, D)`` inputs.
        y: ``(N, T)`` targets.
        alpha: penalty per sample (``λ = alpha · N``), > 0.
    """
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y) or len(x) == 0:
        raise ValueError(f"need (N, D) inputs and (N, T) targets, got {x.shape} and {y.shape}")
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, not {alpha}")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-8] = 1.0
    xs = (x - mean) / scale
    y_mean = y.mean(axis=0)
    yc = y - y_mean
    lam = alpha * len(x)
    n, d = xs.shape
    if n < d:
        weights = xs.T @ np.linalg.solve(xs @ xs.T + lam * np.eye(n), yc)
    else:
        weights = np.linalg.solve(xs.T @ xs + lam * np.eye(d), xs.T @ yc)
    return RidgeModel(mean, scale, weights, y_mean)


#: Side of the downsampled map the box regressor reads (32 × 32 = 1024 inputs).
REGRESSOR_GRID = 32
#: Ridge penalty per sample of the box regressor.
REGRESSOR_ALPHA = 1.0


def map_vector(saliency: np.ndarray, grid: int = REGRESSOR_GRID) -> np.ndarray:
    """``(S, S)`` map → ``(grid²,)`` float64 area-averaged copy."""
    small = cv2.resize(np.asarray(saliency, np.float32), (grid, grid), interpolation=cv2.INTER_AREA)
    return small.astype(np.float64).ravel()


def fit_box_regressor(
    maps: list[np.ndarray], boxes: np.ndarray, alpha: float = REGRESSOR_ALPHA
) -> RidgeModel:
    """Map → box regressor.

    Args:
        maps: ``N`` maps, ``(S, S)`` each.
        boxes: ``(N, 4)`` target boxes ``(x1, y1, x2, y2)`` as fractions of the side, 0-1.
    """
    return fit_ridge(np.stack([map_vector(m) for m in maps]), boxes, alpha)


def regress_box(model: RidgeModel, saliency: np.ndarray) -> np.ndarray:
    """``(4,)`` box in fractions of the side, clipped to 0-1 and ordered."""
    box = np.clip(model.predict(map_vector(saliency)[None])[0], 0.0, 1.0)
    x1, x2 = sorted(box[[0, 2]])
    y1, y2 = sorted(box[[1, 3]])
    return np.array([x1, y1, x2, y2])
