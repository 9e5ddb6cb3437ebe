"""Seconds and peak memory to import one very large Pascal VOC file.

Usage: ``python -m bench.voc_import [--objects 52631] [--max-objects N]``. Writes, in a
temporary folder, a 640 × 480 JPEG and an XML file beside it holding ``--objects`` boxes
(about 200 bytes each: 52,631 make 10 MB), imports the folder into a new project with
:func:`core.services.importer.import_folder` and prints the wall-clock seconds of the import and the
process's peak resident memory (``ru_maxrss``, in MB) before and after it. Without
``--max-objects`` the importer's default cap applies.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from core.services.importer import import_folder
from core.store import Project


def _peak_mb() -> float:
    """Peak resident memory of this process so far, in MB (kB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def write_big_voc(folder: Path, objects: int) -> Path:
    """A 640 × 480 JPEG ``big.jpg`` in ``folder`` and ``big.xml`` beside it with ``objects``
    boxes of a few classes; returns the XML file."""
    Image.new("RGB", (640, 480), (90, 120, 150)).save(folder / "big.jpg")
    xml = folder / "big.xml"
    with xml.open("w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="utf-8"?>\n<annotation>\n')
        f.write("  <filename>big.jpg</filename>\n")
        f.write("  <size><width>640</width><height>480</height><depth>3</depth></size>\n")
        for i in range(objects):
            x, y = i % 600, (i // 600) % 440
            f.write(
                f"  <object><name>class_{i % 7}</name><pose>Unspecified</pose>"
                f"<truncated>0</truncated><difficult>0</difficult>\n"
                f"    <bndbox><xmin>{x + 1}</xmin><ymin>{y + 1}</ymin>"
                f"<xmax>{x + 40}</xmax><ymax>{y + 40}</ymax></bndbox></object>\n"
            )
        f.write("</annotation>\n")
    return xml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=52_631)
    parser.add_argument("--max-objects", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        xml = write_big_voc(folder, args.objects)
        options = {} if args.max_objects is None else {"max_objects": args.max_objects}
        with Project.open(folder / "project.db", root=folder) as project:
            before = _peak_mb()
            start = time.perf_counter()
            report = import_folder(project, folder, **options)
            seconds = time.perf_counter() - start
        print(
            f"{xml.stat().st_size / 1e6:.1f} MB, {args.objects} objects: "
            f"{report.boxes_added} boxes imported in {seconds:.2f} s; "
            f"peak RSS {before:.0f} MB before, {_peak_mb():.0f} MB after"
        )
        for line in report.problems[:3]:
            print(f"  {line[:200]}")


if __name__ == "__main__":
    main()
