"""Images per second: forward pass only, CAM proposals and sensitivity proposals.

Usage: ``python -m bench.throughput [--images 96] [--rounds 3] [--json]``. Images are decoded and
resized to the network input before timing, so every figure covers the same work from a
resized uint8 image on: tensor, network, map, boxes.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from bench.common import sample_images
from core.engine.backbones import DEFAULT_BACKBONE, load_backbone
from core.engine.device import autocast, keep_freed_memory, pick_device
from core.engine.proposals import make_proposer, resize_for_network


def _rates(runs: dict, images: list, batch: int, rounds: int) -> dict[str, float]:
    """Best images/second of each run over ``rounds`` interleaved passes over ``images``.

    Interleaving and keeping the best pass make the ratios robust to other load.
    """
    best = dict.fromkeys(runs, 0.0)
    for run in runs.values():
        run(images[:batch])  # warm-up
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            for i in range(0, len(images), batch):
                run(images[i : i + batch])
            best[name] = max(best[name], len(images) / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96, help="images per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="passes; the best counts")
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    keep_freed_memory()
    device = pick_device(args.device)
    backbone = load_backbone(args.backbone, device=device)
    cam = make_proposer(backbone, "cam")
    sensitivity = make_proposer(backbone, "default")  # the default recipe is sensitivity
    side = cam.recipe.input_size
    images = [resize_for_network(im, side) for im in sample_images(args.images)]

    def forward_only(batch):
        with torch.inference_mode(), autocast(device):
            backbone.forward(cam.tensor(batch))[1].argmax(dim=1).tolist()

    figures: dict = {
        "backbone": args.backbone,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "input_size": side,
    }
    runs = {"forward": forward_only, "cam": cam.propose, "sensitivity": sensitivity.propose}
    for batch in (1, 16):
        rate = _rates(runs, images, batch, args.rounds)
        figures[f"batch_{batch}"] = {
            "forward_only": round(rate["forward"], 2),
            "cam_proposals": round(rate["cam"], 2),
            "sensitivity_proposals": round(rate["sensitivity"], 2),
            "cam_ratio": round(rate["cam"] / rate["forward"], 3),
            "sensitivity_ratio": round(rate["sensitivity"] / rate["forward"], 3),
        }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{args.backbone} on {device} ({figures['threads']} threads), {side} px, img/s")
    print(f"{'batch':>6}{'forward':>10}{'CAM':>8}{'ratio':>7}{'sensitivity':>13}{'ratio':>7}")
    for batch in (1, 16):
        f = figures[f"batch_{batch}"]
        print(
            f"{batch:>6}{f['forward_only']:>10.1f}{f['cam_proposals']:>8.1f}"
            f"{f['cam_ratio']:>7.2f}{f['sensitivity_proposals']:>13.1f}"
            f"{f['sensitivity_ratio']:>7.2f}"
        )


if __name__ == "__main__":
    main()
