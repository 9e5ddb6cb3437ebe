"""Plain classes files: one class name a line, as LabelImg's ``predefined_classes.txt`` and
labelme's ``--labels`` file hold them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.store.rows import clean_class_name

#: The largest classes file read, in bytes (a class list, not a data set).
MAX_BYTES = 1_000_000


@dataclass
class ClassesFile:
    """The names of a classes file in order, without blanks or repeats, and one line of
    ``problems`` per line that holds no valid name."""

    names: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def read_classes_file(path: str | Path) -> ClassesFile:
    """Read a UTF-8 classes file (a byte-order mark is allowed).

    Raises:
        OSError: the file cannot be read.
        ValueError: it is larger than :data:`MAX_BYTES` or not UTF-8 text.
    """
    path = Path(path)
    if path.stat().st_size > MAX_BYTES:
        raise ValueError(f"{path}: larger than {MAX_BYTES} bytes; not a classes file")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    result = ClassesFile()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            name = clean_class_name(line)
        except ValueError as exc:
            result.problems.append(f"{path}, line {number}: {exc}")
            continue
        if name not in result.names:
            result.names.append(name)
    return result
