"""The last block of an EfficientNet-Lite, where saliency-aligned fine-tuning starts: what
both the evidence (which keeps that block's input) and the tuning need, so neither
imports the other."""

from __future__ import annotations

from torch import nn

from core.engine.backbones import Backbone

#: Index of the first block the tuned tail holds (EfficientNet-Lite0 has blocks 0-15).
TAIL_BLOCK = 15


def tail_block(backbone: Backbone) -> nn.Module:
    """The block whose input :class:`core.learning.saliency_tuning.TunedTail` starts from.

    Raises:
        ValueError: the backbone is not an EfficientNet-Lite.
    """
    blocks = getattr(getattr(backbone.features, "net", None), "_blocks", None)
    if blocks is None or len(blocks) <= TAIL_BLOCK:
        raise ValueError(
            f"saliency-aligned fine-tuning needs EfficientNet-Lite, not {backbone.name}"
        )
    return blocks[TAIL_BLOCK]
