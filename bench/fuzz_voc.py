"""A long fuzz run of the Pascal VOC reader: the property of
tests/unit/core/formats/test_voc_hostile.py
(only AnnotationError is raised, every box lies inside its image) over many more examples.

Usage: ``python -m bench.fuzz_voc [--examples 20000] [--seed N]``. Runs generated documents
and random bytes, mutated generated documents, and mutated real files of ../shared/datasets
(left out when it is absent), ``--examples`` each, and prints the seconds each took; a
failure is shrunk by Hypothesis and raised with the document that fails.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests.helpers import voc_fuzz


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    sources = {
        "generated": st.one_of(voc_fuzz.documents(), st.binary(max_size=300)),
        "mutated generated": voc_fuzz.mutated(voc_fuzz.documents()),
    }
    if voc_fuzz.REAL_FILES:
        sources["mutated real"] = voc_fuzz.mutated(voc_fuzz.real_files())
    else:
        print(f"no VOC files in {voc_fuzz.DATASETS}: mutated real files left out")
    options = settings(
        max_examples=args.examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    with tempfile.TemporaryDirectory() as tmp:
        image = voc_fuzz.write_image(Path(tmp))
        xml = Path(tmp) / "fuzz.xml"
        for name, source in sources.items():

            def run(data: bytes) -> None:
                voc_fuzz.check(data, xml, image)

            test = options(given(source)(run))
            if args.seed is not None:
                test = seed(args.seed)(test)
            start = time.perf_counter()
            test()
            print(f"{name}: {args.examples} examples passed in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
