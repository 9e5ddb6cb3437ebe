"""Multinomial logistic regression fitted in full batch with L-BFGS, shared by the class
head and the dense detector."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def fit_multinomial(
    x: torch.Tensor, y: torch.Tensor, outputs: int, weight_decay: float, max_iter: int = 200
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(weight (outputs, D), bias (outputs,))`` minimising the mean cross-entropy of
    ``x (N, D) @ weight.T + bias`` against ``y (N,)`` plus ``weight_decay · ‖weight‖²``."""
    x = x.float()
    weight = torch.zeros(outputs, x.shape[1], requires_grad=True)
    bias = torch.zeros(outputs, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(x @ weight.T + bias, y) + weight_decay * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return weight.detach().clone(), bias.detach().clone()
