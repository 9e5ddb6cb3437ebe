"""Hostile Pascal VOC files: each skips one file or one object with a clear line
naming the file, and the rest of the import goes on. Every test writes its own files."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from core.engine.images import load_rgb
from core.formats.voc import AnnotationError, read_voc
from core.services.importer import import_folder
from core.store.project import Project
from tests.helpers import voc_fuzz

GOOD = (
    "<annotation><filename>{name}</filename>"
    "<size><width>{w}</width><height>{h}</height><depth>3</depth></size>{objects}</annotation>"
)


def obj(name: str = "cat", xmin=1, ymin=1, xmax=10, ymax=10) -> str:
    return (
        f"<object><name>{name}</name><bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin>"
        f"<xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object>"
    )


def doc(*objects: str, w="64", h="48", name="x.jpg") -> str:
    return GOOD.format(name=name, w=w, h=h, objects="".join(objects))


def image(path: Path, size: tuple[int, int] = (64, 48), orientation: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", size, (40, 40, 40))
    if orientation is None:
        img.save(path)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        img.save(path, exif=exif)
    return path


def imported(project: Project, rel: str) -> list[tuple[str, tuple[float, ...]]]:
    row = project.image_by_path(rel)
    assert row is not None
    return [(b.class_name, b.box) for b in project.box_records.boxes(row.id)]


def two_images(folder: Path, bad_xml: bytes) -> None:
    """``bad.jpg`` with ``bad_xml`` beside it, and ``good.jpg`` with one good box."""
    image(folder / "bad.jpg")
    (folder / "bad.xml").write_bytes(bad_xml)
    image(folder / "good.jpg")
    (folder / "good.xml").write_text(doc(obj("dog")), encoding="utf-8")


# --- 1. an unknown encoding -------------------------------------------------------------------


def test_unknown_encoding_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "bogus.xml"
    path.write_bytes(b'<?xml version="1.0" encoding="x-bogus-42"?>' + doc(obj()).encode())
    with pytest.raises(AnnotationError) as info:
        read_voc(path)
    assert str(info.value) == f"{path}: declares the unknown text encoding 'x-bogus-42'"


def test_unknown_encoding_skips_only_that_file(folder, project):
    two_images(folder, b'<?xml version="1.0" encoding="x-bogus-42"?>' + doc(obj()).encode())
    report = import_folder(project, folder)
    assert report.problems == [
        f"{folder / 'bad.xml'}: declares the unknown text encoding 'x-bogus-42'"
    ]
    assert imported(project, "good.jpg") == [("dog", (0.0, 0.0, 10.0, 10.0))]
    assert imported(project, "bad.jpg") == []


@pytest.mark.parametrize("encoding", ["utf-8", "rot13", "base64"])
def test_codecs_that_are_not_text_encodings_are_refused(tmp_path, encoding):
    path = tmp_path / "odd.xml"
    path.write_bytes(f'<?xml version="1.0" encoding="{encoding}"?>'.encode() + b"<annotation/>")
    if encoding == "utf-8":
        assert read_voc(path).objects == []
    else:
        with pytest.raises(AnnotationError, match=f"'{encoding}'"):
            read_voc(path)


# --- 2. multi-byte encodings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "declared", "name"),
    [
        ("shift_jis", "Shift_JIS", "猫"),
        ("shift_jis", "SJIS", "ソフトクリーム"),
        ("gbk", "GBK", "狗"),
        ("gb18030", "GB18030", "熊猫"),
        ("euc_jp", "EUC-JP", "犬"),
        ("big5", "Big5", "貓"),
        ("cp1252", "windows-1252", "café €"),
    ],
)
def test_declared_encodings_are_decoded(tmp_path, encoding, declared, name):
    path = tmp_path / "ann.xml"
    text = f'<?xml version="1.0" encoding="{declared}"?>\n' + doc(obj(name), name=f"{name}.jpg")
    data = text.encode(encoding)
    assert data != text.encode("utf-8")  # the bytes really are in that encoding
    path.write_bytes(data)
    ann = read_voc(path)
    assert ann.filename == f"{name}.jpg"
    assert [(o.name, o.box) for o in ann.objects] == [(name, (0.0, 0.0, 10.0, 10.0))]


def test_multi_byte_files_import_beside_others(folder, project):
    xml = '<?xml version="1.0" encoding="Shift_JIS"?>' + doc(obj("猫"), obj("犬", 5, 5, 20, 20))
    two_images(folder, xml.encode("shift_jis"))
    report = import_folder(project, folder)
    assert report.problems == []
    assert imported(project, "bad.jpg") == [
        ("猫", (0.0, 0.0, 10.0, 10.0)),
        ("犬", (4.0, 4.0, 20.0, 20.0)),
    ]
    assert imported(project, "good.jpg") == [("dog", (0.0, 0.0, 10.0, 10.0))]


def test_bytes_not_in_the_declared_encoding_name_the_file(tmp_path):
    path = tmp_path / "lies.xml"
    path.write_bytes(b'<?xml version="1.0" encoding="Shift_JIS"?><annotation>\x82\xff</annotation>')
    with pytest.raises(AnnotationError, match=r"lies\.xml: .*not Shift_JIS text"):
        read_voc(path)


def test_decoded_files_keep_defusedxml_protections(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    for dtd in (
        '<!DOCTYPE a [<!ENTITY x "y">]>',
        f'<!DOCTYPE a [<!ENTITY x SYSTEM "{secret.as_uri()}">]>',
    ):
        text = (
            f'<?xml version="1.0" encoding="GBK"?>{dtd}'
            "<annotation><filename>&x;</filename></annotation>"
        )
        path = tmp_path / "dtd.xml"
        path.write_bytes(text.encode("gbk"))
        with pytest.raises(AnnotationError, match="unsafe") as info:
            read_voc(path)
        assert "TOP-SECRET" not in str(info.value)


# --- 3. implausible sizes ---------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1e19", "1e300", "-640", "nan", "inf", "-inf", "wide", "0.5"])
def test_implausible_size_is_treated_as_missing(tmp_path, value):
    path = tmp_path / "size.xml"
    path.write_text(doc(obj(), w=value), encoding="utf-8")
    ann = read_voc(path)
    assert (ann.width, ann.height) == (0, 48)
    assert ann.warnings == [
        f"{path}: <size> says {value!r} × '48', not a plausible image size; "
        "the image's own size is used"
    ]


@pytest.mark.parametrize("value", ["1e19", "1e300"])
def test_implausible_size_imports_with_the_images_size(folder, project, value):
    two_images(folder, doc(obj(), w=value, h=value).encode())
    report = import_folder(project, folder)
    assert len(report.problems) == 1 and "not a plausible image size" in report.problems[0]
    row = project.image_by_path("bad.jpg")
    assert (row.width, row.height) == (64, 48)
    assert imported(project, "bad.jpg") == [("cat", (0.0, 0.0, 10.0, 10.0))]
    assert imported(project, "good.jpg") == [("dog", (0.0, 0.0, 10.0, 10.0))]
    assert project.image_by_path("bad.jpg").status == "done"  # nothing was lost


def test_huge_depth_is_ignored(tmp_path):
    path = tmp_path / "depth.xml"
    path.write_text(doc(obj()).replace("<depth>3", "<depth>" + "9" * 5000), encoding="utf-8")
    assert read_voc(path).depth == 3


# --- 4. names the project refuses -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "a class name cannot be empty"),
        ("   ", "a class name cannot be empty"),
        ("ca&#10;t", "class name 'ca\\nt' holds a control character"),
        ("tab&#9;bed", "class name 'tab\\tbed' holds a control character"),
        ("a" * 129, f"class name {'a' * 20!r}... is 129 characters long; at most 128 are allowed"),
        (
            "b" * 1_000_000,
            f"class name {'b' * 20!r}... is 1000000 characters long; at most 128 are allowed",
        ),
    ],
    ids=["empty", "blank", "newline", "tab", "129-chars", "1-MB"],
)
def test_refused_names_skip_the_object_only(tmp_path, name, reason):
    path = tmp_path / "names.xml"
    path.write_text(doc(obj("cat"), obj(name), obj("dog", 2, 2, 5, 5)), encoding="utf-8")
    ann = read_voc(path)
    assert [o.name for o in ann.objects] == ["cat", "dog"]
    assert ann.warnings == [f"{path}: object 2 skipped: {reason}"]


def test_name_at_the_limit_is_kept_stripped(tmp_path):
    path = tmp_path / "names.xml"
    path.write_text(doc(obj(f"  {'n' * 128}\n ")), encoding="utf-8")
    assert [o.name for o in read_voc(path).objects] == ["n" * 128]


def test_blank_and_control_names_import_the_good_objects(folder, project):
    two_images(folder, doc(obj(" "), obj("cat"), obj("x&#10;y", 3, 3, 9, 9)).encode())
    report = import_folder(project, folder)
    bad = folder / "bad.xml"
    assert report.problems == [
        f"{bad}: object 1 skipped: a class name cannot be empty",
        f"{bad}: object 3 skipped: class name 'x\\ny' holds a control character",
    ]
    assert imported(project, "bad.jpg") == [("cat", (0.0, 0.0, 10.0, 10.0))]
    assert imported(project, "good.jpg") == [("dog", (0.0, 0.0, 10.0, 10.0))]
    # An image that lost objects still needs a review: never exported as complete.
    assert project.image_by_path("bad.jpg").status == "in_review"
    assert project.image_by_path("good.jpg").status == "done"


# --- 5. the image on disk wins ----------------------------------------------------------------


def test_the_images_size_wins_over_the_xml(folder, project):
    image(folder / "photo.jpg", (640, 480))
    (folder / "photo.xml").write_text(doc(obj("cat", 51, 41, 300, 200), w="100", h="100"))
    report = import_folder(project, folder)
    assert report.problems == [
        f"{folder / 'photo.xml'} (photo.jpg): the XML says 100 × 100 but the image is "
        "640 × 480; the image's size is used"
    ]
    row = project.image_by_path("photo.jpg")
    assert (row.width, row.height) == (640, 480)
    assert imported(project, "photo.jpg") == [("cat", (50.0, 40.0, 300.0, 200.0))]


def test_boxes_of_the_stored_frame_are_turned_for_orientation_6(folder, project):
    # The camera stores 640 × 480 pixels; EXIF orientation 6 shows them turned 90° clockwise,
    # 480 × 640. LabelImg wrote the stored size and a box in stored pixels:
    # edges x 100..300, y 50..150 of the 640 × 480 frame.
    image(folder / "phone.jpg", (640, 480), orientation=6)
    (folder / "phone.xml").write_text(doc(obj("cat", 101, 51, 300, 150), w="640", h="480"))
    report = import_folder(project, folder)
    assert report.problems == [
        f"{folder / 'phone.xml'} (phone.jpg): the XML says 640 × 480, the image's size before "
        "its EXIF orientation (6); its boxes are turned into the 480 × 640 image as shown"
    ]
    # Turned clockwise, stored (x, y) is shown at (480 - y, x): x 330..430, y 100..300.
    row = project.image_by_path("phone.jpg")
    assert (row.width, row.height) == (480, 640)
    assert imported(project, "phone.jpg") == [("cat", (330.0, 100.0, 430.0, 300.0))]


@pytest.mark.parametrize("orientation", [5, 6, 7, 8])
def test_turned_boxes_cover_the_same_pixels(tmp_path, orientation):
    # A white rectangle in the stored pixels, annotated in the stored frame, must land on
    # the white pixels of the image as core.engine.images shows it.
    root = tmp_path / f"o{orientation}"
    stored = np.zeros((48, 64, 3), dtype=np.uint8)
    stored[10:20, 5:30] = 255
    exif = Image.Exif()
    exif[0x0112] = orientation
    root.mkdir()
    Image.fromarray(stored).save(root / "p.png", exif=exif)
    (root / "p.xml").write_text(doc(obj("cat", 6, 11, 30, 20), w="64", h="48"))
    shown = load_rgb(root / "p.png").rgb
    ys, xs = np.nonzero(shown[:, :, 0] > 127)
    expected = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    with Project.open(root / "p.db", root) as project:
        report = import_folder(project, root)
        assert len(report.problems) == 1 and "turned" in report.problems[0]
        assert imported(project, "p.png") == [("cat", expected)]


def test_square_or_matching_sizes_are_not_turned(folder, project):
    image(folder / "shown.jpg", (640, 480), orientation=6)  # shown as 480 × 640
    (folder / "shown.xml").write_text(doc(obj("cat", 1, 1, 100, 50), w="480", h="640"))
    report = import_folder(project, folder)
    assert report.problems == []
    assert imported(project, "shown.jpg") == [("cat", (0.0, 0.0, 100.0, 50.0))]


def test_swapped_size_without_exif_orientation_is_a_plain_mismatch(folder, project):
    image(folder / "flat.jpg", (640, 480))
    (folder / "flat.xml").write_text(doc(obj("cat", 1, 1, 100, 50), w="480", h="640"))
    report = import_folder(project, folder)
    assert report.problems == [
        f"{folder / 'flat.xml'} (flat.jpg): the XML says 480 × 640 but the image is "
        "640 × 480; the image's size is used"
    ]
    assert imported(project, "flat.jpg") == [("cat", (0.0, 0.0, 100.0, 50.0))]


# --- 6. very many objects ---------------------------------------------------------------------


def test_objects_beyond_the_cap_are_dropped_with_a_warning(tmp_path):
    path = tmp_path / "many.xml"
    path.write_text(doc(*(obj(f"c{i}") for i in range(25))), encoding="utf-8")
    ann = read_voc(path, max_objects=10)
    assert [o.name for o in ann.objects] == [f"c{i}" for i in range(10)]
    assert ann.warnings == [
        f"{path}: 25 objects, more than the 10 kept per image; the last 15 were dropped"
    ]
    assert len(read_voc(path).objects) == 25  # the default cap is far higher


def test_the_import_passes_the_cap_on(folder, project):
    two_images(folder, doc(*(obj("cat") for _ in range(7))).encode())
    report = import_folder(project, folder, max_objects=3)
    assert report.problems == [
        f"{folder / 'bad.xml'}: 7 objects, more than the 3 kept per image; the last 4 were dropped"
    ]
    assert len(imported(project, "bad.jpg")) == 3


def test_a_large_file_is_read_as_a_stream(tmp_path):
    # 10,000 objects (1 MB): the whole tree would take about 8 MB; read as a stream with 5
    # objects kept, what is held does not grow with the file.
    path = tmp_path / "large.xml"
    with path.open("w", encoding="utf-8") as f:
        f.write(doc().replace("</annotation>", ""))
        for _ in range(10_000):
            f.write(obj())
        f.write("</annotation>")
    tracemalloc.start()
    try:
        ann = read_voc(path, max_objects=5)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(ann.objects) == 5 and "10000 objects" in ann.warnings[0]
    assert peak < 2e6, f"{peak / 1e6:.1f} MB"


def test_an_image_name_no_export_could_write_is_one_line(folder, project):
    name = "a\\..\\b"  # a legal file name on Linux, a way out of a folder on Windows
    two_images(folder, doc(obj()).encode())
    image(folder / f"{name}.jpg")
    (folder / f"{name}.xml").write_text(doc(obj()), encoding="utf-8")
    report = import_folder(project, folder)
    assert report.problems == [
        f"{folder / name}.xml ({name}.jpg): {name + '.jpg'!r} is not a relative POSIX path "
        "inside the project; its boxes are not imported"
    ]
    assert imported(project, "good.jpg") == [("dog", (0.0, 0.0, 10.0, 10.0))]


# --- 7. fuzzing -------------------------------------------------------------------------------

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def fuzz_image(tmp_path) -> Path:
    return voc_fuzz.write_image(tmp_path)


@FUZZ
@given(data=st.one_of(voc_fuzz.documents(), st.binary(max_size=300)))
def test_fuzz_generated_documents(tmp_path, fuzz_image, data):
    voc_fuzz.check(data, tmp_path / "fuzz.xml", fuzz_image)


@FUZZ
@given(data=voc_fuzz.mutated(voc_fuzz.documents()))
def test_fuzz_mutated_generated_documents(tmp_path, fuzz_image, data):
    voc_fuzz.check(data, tmp_path / "fuzz.xml", fuzz_image)


@pytest.mark.skipif(
    not voc_fuzz.REAL_FILES, reason=f"no VOC files in {voc_fuzz.DATASETS} to mutate"
)
@FUZZ
@given(data=voc_fuzz.mutated(voc_fuzz.real_files()))
def test_fuzz_mutated_real_files(tmp_path, fuzz_image, data):
    voc_fuzz.check(data, tmp_path / "fuzz.xml", fuzz_image)
