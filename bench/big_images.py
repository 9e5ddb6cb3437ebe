"""Seconds and peak memory of reading the size of very large PNGs (core.engine.images.image_size).

Usage: ``python -m bench.big_images [--sides 20000 15000]``. Writes, in a temporary folder,
one black RGB PNG per side (square, streamed to disk without holding the pixels, with the
EXIF orientation 6 in an ``eXIf`` chunk after the pixel data, where exiftool and some
phones put it), then calls ``image_size`` on each in a fresh Python process and prints its
wall-clock seconds, its peak resident memory (max RSS) against that of a process that only
imports core.engine.images, what it returned, and how many lines it wrote to stderr.
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

from PIL import Image

#: Run in the child process: prints {"seconds", "rss_mb", "result"} as JSON.
CHILD = """
import json, resource, sys, time
from core.engine.images import ImageLoadError, image_size
start = time.perf_counter()
try:
    result = image_size(sys.argv[1]) if sys.argv[1] else "nothing read"
except ImageLoadError as exc:
    result = f"ImageLoadError: {exc}"
seconds = time.perf_counter() - start
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "rss_mb": rss_mb, "result": str(result)}))
"""


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_png(path: Path, side: int, orientation: int = 6) -> Path:
    """A ``side`` × ``side`` black RGB PNG, its rows compressed one at a time, in 64 KiB
    ``IDAT`` chunks (as Pillow writes them), followed by an ``eXIf`` chunk."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    row = bytes(1 + 3 * side)  # filter type 0, then black pixels
    squeeze = zlib.compressobj(1)
    with path.open("wb") as out:
        out.write(b"\x89PNG\r\n\x1a\n")
        out.write(_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)))
        pending = b""
        for _ in range(side):
            pending += squeeze.compress(row)
            while len(pending) >= 65536:
                out.write(_chunk(b"IDAT", pending[:65536]))
                pending = pending[65536:]
        out.write(_chunk(b"IDAT", pending + squeeze.flush()))
        out.write(_chunk(b"eXIf", exif.tobytes()[6:]))  # without the b"Exif\0\0" prefix
        out.write(_chunk(b"IEND", b""))
    return path


def measure(path: Path | None) -> dict[str, object]:
    """Run :data:`CHILD` on ``path`` (None: import only) in a new interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path or "")],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    figures = json.loads(done.stdout)
    figures["stderr_lines"] = len(done.stderr.splitlines())
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[20000, 15000])
    args = parser.parse_args()
    baseline = measure(None)
    print(f"python importing core.engine.images: max RSS {baseline['rss_mb']:.0f} MB")
    with tempfile.TemporaryDirectory() as folder:
        for side in args.sides:
            path = write_png(Path(folder) / f"black {side}.png", side)
            got = measure(path)
            print(
                f"image_size, {side}x{side} PNG ({path.stat().st_size / 1e6:.1f} MB file): "
                f"{got['seconds']:.3f} s, max RSS {got['rss_mb']:.0f} MB, "
                f"{got['stderr_lines']} stderr lines -> {got['result']}"
            )


if __name__ == "__main__":
    main()
