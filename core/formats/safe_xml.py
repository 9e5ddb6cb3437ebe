"""Reading an untrusted XML file as a stream of elements, in whatever encoding it declares.

Parsing is defusedxml's ``iterparse``: no entity expansion, no external references, no
network. Expat reads UTF-8, UTF-16, ISO-8859-1 and US-ASCII itself; a file that declares
any other encoding Python's codecs know (Shift_JIS, GBK, EUC-JP, Big5, windows-1252 …) is
decoded here and the parser is given text, so multi-byte encodings work too. Memory stays
bounded by the elements the caller keeps: it should remove each one it is done with.
"""

from __future__ import annotations

import codecs
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

#: Bytes read to find the encoding in the XML declaration (which must start the file).
_HEAD = 1024
_DECLARATION = re.compile(
    rb"^(?:\xef\xbb\xbf)?<\?xml\s[^>]*?\bencoding\s*=\s*[\"']([^\"'<>]{1,64})[\"']"
)
#: Python's names of the encodings expat decodes itself.
_EXPAT_ENCODINGS = frozenset({"utf-8", "utf-16", "utf-16-le", "utf-16-be", "iso8859-1", "ascii"})


class XmlError(ValueError):
    """The file is not XML that can be read safely; the message gives the reason only
    (without the file name)."""


def _declared_encoding(head: bytes) -> str | None:
    found = _DECLARATION.match(head)
    return found.group(1).decode("ascii", "replace") if found else None


def _source(raw: IO[bytes], head: bytes) -> tuple[IO[bytes] | IO[str], str | None]:
    """``raw`` as expat should read it, and the encoding decoded here (``None``: expat's).

    Raises:
        XmlError: the declared encoding is unknown or is not a text encoding.
    """
    declared = _declared_encoding(head)
    if declared is None:
        return raw, None
    try:
        name = codecs.lookup(declared).name
    except LookupError:
        raise XmlError(f"declares the unknown text encoding {declared!r}") from None
    if name in _EXPAT_ENCODINGS:
        return raw, None
    try:
        return io.TextIOWrapper(raw, encoding=declared, errors="strict", newline=""), declared
    except LookupError:
        raise XmlError(f"declares {declared!r}, which is not a text encoding") from None


def xml_events(path: Path) -> Iterator[tuple[str, ET.Element]]:
    """``("start" | "end", element)`` for each element of the file at ``path``, in order.

    Raises:
        XmlError: unreadable file, unknown encoding, bytes that are not in the declared
            encoding, malformed XML, or a DTD with entities or external references.
    """
    try:
        with path.open("rb") as raw:
            head = raw.read(_HEAD)
            raw.seek(0)
            source, decoded = _source(raw, head)
            try:
                yield from iterparse(source, events=("start", "end"))
            except UnicodeError as exc:
                if decoded is None:
                    raise
                reason = getattr(exc, "reason", exc)
                raise XmlError(f"holds bytes that are not {decoded} text ({reason})") from None
    except XmlError:
        raise
    except DefusedXmlException as exc:
        raise XmlError(f"refused unsafe XML ({type(exc).__name__})") from exc
    except ET.ParseError as exc:
        raise XmlError(f"malformed XML ({exc})") from exc
    except (LookupError, ValueError) as exc:  # what expat's own decoding may raise
        raise XmlError(f"cannot decode the file ({exc})") from exc
    except OSError as exc:
        raise XmlError(f"cannot read ({exc.strerror or exc})") from exc
