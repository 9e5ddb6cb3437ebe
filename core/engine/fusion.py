"""Inference-time rewrites of EfficientNet-Lite that keep its outputs and speed up gradients.

Saliency maps need a backward pass to the pixels; on a CPU that pass costs more in
BatchNorm and explicit padding than in convolutions. In eval mode BatchNorm is an affine
map, so it folds exactly into the convolution before it
(``torch.nn.utils.fusion.fuse_conv_bn_eval``), and a stride-1 TF "same" padding of an odd
kernel is symmetric, so the convolution's own zero padding gives the same result.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

# (conv, batch norm) attribute pairs of efficientnet_lite_pytorch's modules.
_BLOCK_PAIRS = (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2"))
_NET_PAIRS = (("_conv_stem", "_bn0"), ("_conv_head", "_bn1"))


def _static_padding(conv: nn.Conv2d) -> nn.Conv2d:
    """A plain ``nn.Conv2d`` with symmetric padding when that equals TF "same" padding."""
    kh, kw = conv.kernel_size
    if tuple(conv.stride) != (1, 1) or kh % 2 == 0 or kw % 2 == 0:
        return conv
    plain = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        (kh, kw),
        stride=1,
        padding=(kh // 2, kw // 2),
        dilation=(conv.dilation[0], conv.dilation[1]),
        groups=conv.groups,
        bias=conv.bias is not None,
    )
    plain.load_state_dict(conv.state_dict())
    return plain


def _fold(module: nn.Module, pairs: tuple[tuple[str, str], ...]) -> None:
    for conv_name, bn_name in pairs:
        conv = getattr(module, conv_name, None)
        bn = getattr(module, bn_name, None)
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            setattr(module, conv_name, _static_padding(fuse_conv_bn_eval(conv, bn)))
            setattr(module, bn_name, nn.Identity())


def fuse_efficientnet_lite(net: nn.Module) -> nn.Module:
    """Fold every BatchNorm of an ``efficientnet_lite_pytorch.EfficientNet`` into its
    convolution and make stride-1 padding static, in place; returns ``net`` in eval mode.

    Outputs match the original network to float rounding (about 1e-5 relative).
    """
    net.eval()
    _fold(net, _NET_PAIRS)
    for block in net._blocks:  # type: ignore[union-attr]  # an nn.ModuleList
        _fold(block, _BLOCK_PAIRS)
    return net
