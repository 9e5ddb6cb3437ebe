"""Reading Pascal VOC XML safely (core.formats.voc) and pairing it with images
(core.formats.voc_dataset)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.formats.voc import AnnotationError, VocObject, read_voc
from core.formats.voc_dataset import annotated_images, annotation_for

NORMAL = """<?xml version="1.0" encoding="utf-8"?>
<annotation verified="yes">
  <folder>images</folder>
  <filename>raccoon-1.jpg</filename>
  <source><database>Unknown</database></source>
  <size><width>650</width><height>417</height><depth>3</depth></size>
  <segmented>0</segmented>
  <object>
    <name>raccoon</name>
    <pose>Frontal</pose>
    <truncated>1</truncated>
    <difficult>0</difficult>
    <bndbox><xmin>81</xmin><ymin>88</ymin><xmax>522</xmax><ymax>408</ymax></bndbox>
  </object>
  <object>
    <name> dog </name>
    <difficult>1</difficult>
    <occluded>1</occluded>
    <bndbox>
      <xmin>1</xmin><ymin>1</ymin><xmax>10.5</xmax><ymax>20</ymax>
    </bndbox>
  </object>
</annotation>
"""


def write(tmp_path: Path, text: str, name: str = "ann.xml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def voc(objects: str = "", size: str = "<size><width>100</width><height>80</height></size>"):
    return f"<annotation><filename>x.jpg</filename>{size}{objects}</annotation>"


def box(xmin="1", ymin="2", xmax="30", ymax="40") -> str:
    return (
        f"<object><name>cat</name><bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin>"
        f"<xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object>"
    )


def test_normal_file(tmp_path):
    ann = read_voc(write(tmp_path, NORMAL))
    assert ann.filename == "raccoon-1.jpg"
    assert (ann.width, ann.height) == (650, 417)
    assert ann.warnings == []
    assert ann.objects == [
        VocObject(
            name="raccoon",
            box=(80.0, 87.0, 522.0, 408.0),
            difficult=False,
            truncated=True,
            occluded=False,
            pose="Frontal",
        ),
        VocObject(
            name="dog",
            box=(0.0, 0.0, 10.5, 20.0),
            difficult=True,
            truncated=False,
            occluded=True,
            pose="Unspecified",
        ),
    ]


def test_whole_image_box_is_image_size(tmp_path):
    # A box over every pixel of a 100 × 80 image: xmin=1..xmax=100 → edges (0, 0, 100, 80).
    ann = read_voc(write(tmp_path, voc(box("1", "1", "100", "80"))))
    assert ann.objects[0].box == (0.0, 0.0, 100.0, 80.0)


def test_str_path_accepted(tmp_path):
    assert read_voc(str(write(tmp_path, voc(box())))).objects[0].box == (0, 1, 30, 40)


def test_single_pixel_box(tmp_path):
    ann = read_voc(write(tmp_path, voc(box("5", "7", "5", "7"))))
    assert ann.objects[0].box == (4.0, 6.0, 5.0, 7.0)


def test_object_without_bndbox_skipped_with_warning(tmp_path):
    path = write(tmp_path, voc("<object><name>ghost</name></object>" + box()))
    ann = read_voc(path)
    assert [o.name for o in ann.objects] == ["cat"]
    assert len(ann.warnings) == 1
    assert "bndbox" in ann.warnings[0] and path.name in ann.warnings[0]


def test_missing_size_gives_zero(tmp_path):
    ann = read_voc(write(tmp_path, voc(box(), size="")))
    assert (ann.width, ann.height) == (0, 0)
    assert len(ann.objects) == 1
    ann = read_voc(write(tmp_path, voc(box(), size="<size><depth>3</depth></size>")))
    assert (ann.width, ann.height) == (0, 0)


def test_missing_name_and_empty_file_name(tmp_path):
    text = (
        "<annotation><object><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax>"
        "<ymax>2</ymax></bndbox></object></annotation>"
    )
    ann = read_voc(write(tmp_path, text))
    assert ann.filename == ""
    assert ann.objects[0].name == "unnamed"


def test_unknown_tags_ignored(tmp_path):
    text = voc(
        "<object><name>cat</name><colour>ginger</colour><extra><deep>1</deep></extra>"
        "<bndbox><xmin>1</xmin><ymin>2</ymin><xmax>30</xmax><ymax>40</ymax><zmin>3</zmin>"
        "</bndbox><actions><jumping>1</jumping></actions></object>"
        "<owner><flickrid>someone</flickrid></owner><weird attr='1'/>"
    )
    ann = read_voc(write(tmp_path, text))
    assert ann.objects == [VocObject(name="cat", box=(0.0, 1.0, 30.0, 40.0))]
    assert ann.warnings == []


def test_empty_annotation(tmp_path):
    ann = read_voc(write(tmp_path, "<annotation/>"))
    assert ann.objects == [] and (ann.width, ann.height) == (0, 0)


# --- refused files ---------------------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<annotation><filename>&lol9;</filename></annotation>
"""


def external_entity(target: Path) -> str:
    return f"""<?xml version="1.0"?>
<!DOCTYPE annotation [<!ENTITY xxe SYSTEM "{target.as_uri()}">]>
<annotation><filename>&xxe;</filename>{box()}</annotation>
"""


def _assert_refused(path: Path, match: str) -> AnnotationError:
    with pytest.raises(AnnotationError, match=match) as info:
        read_voc(path)
    assert path.name in str(info.value)
    assert isinstance(info.value, ValueError)
    return info.value


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("<annotation><object><name>cat</object></annotation>", "malformed"),
        (NORMAL[: len(NORMAL) // 2], "malformed"),
        ("", "malformed"),
        ("this is not xml", "malformed"),
        ("<html><body>hello</body></html>", "<html>"),
        (voc(box(xmin="12px")), "'12px'"),
        (voc(box(ymax="")), "<ymax>"),
        (voc(box(xmin="40", xmax="30")), "min greater than max"),
        (voc(box(ymin="50", ymax="40")), "min greater than max"),
    ],
    ids=[
        "mismatched-tag",
        "truncated",
        "empty",
        "not-xml",
        "wrong-root",
        "non-numeric",
        "empty-coordinate",
        "x-inverted",
        "y-inverted",
    ],
)
def test_refused(tmp_path, text, match):
    _assert_refused(write(tmp_path, text, "bad file.xml"), match)


def test_missing_coordinate(tmp_path):
    text = voc(
        "<object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax>"
        "</bndbox></object>"
    )
    _assert_refused(write(tmp_path, text), "<ymax>")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_non_finite_coordinates_refused_and_sizes_ignored(tmp_path, value):
    _assert_refused(write(tmp_path, voc(box(xmax=value))), "<xmax>")
    size = f"<size><width>{value}</width><height>80</height></size>"
    ann = read_voc(write(tmp_path, voc(box(), size=size)))
    assert (ann.width, ann.height) == (0, 80)
    assert len(ann.warnings) == 1 and "not a plausible image size" in ann.warnings[0]


def test_billion_laughs_refused(tmp_path):
    _assert_refused(write(tmp_path, BILLION_LAUGHS, "bomb.xml"), "unsafe")


def test_external_entity_refused_without_leaking(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    for target in (secret, Path("/etc/passwd")):
        err = _assert_refused(write(tmp_path, external_entity(target), "xxe.xml"), "unsafe")
        assert "TOP-SECRET" not in str(err)
        assert "root:" not in str(err)


def test_missing_file_and_folder(tmp_path):
    _assert_refused(tmp_path / "absent.xml", "cannot read")
    (tmp_path / "dir.xml").mkdir()
    _assert_refused(tmp_path / "dir.xml", "dir.xml")


# --- pairing images with annotations --------------------------------------------------------


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_annotated_images_xml_beside_images(tmp_path):
    a = touch(tmp_path / "a.jpg")
    b = touch(tmp_path / "sub" / "b.PNG")
    touch(tmp_path / "c.jpg")  # no XML: left out
    xa = write(tmp_path, voc(), "a.xml")
    xb = write(tmp_path, voc(), "sub/b.xml")
    assert annotated_images(tmp_path) == [(a, xa), (b, xb)]
    assert annotation_for(tmp_path / "c.jpg") is None


@pytest.mark.parametrize("folder", ["annotations", "Annotations"])
def test_annotated_images_parallel_folder(tmp_path, folder):
    images = tmp_path / "images"
    a = touch(images / "a.jpg")
    b = touch(images / "b.jpeg")
    xa = write(tmp_path, voc(), f"{folder}/a.xml")
    assert annotated_images(images) == [(a, xa)]
    assert annotation_for(b) is None
    # An XML beside the image wins over the parallel folder.
    xb_beside = write(tmp_path, voc(), "images/b.xml")
    write(tmp_path, voc(), f"{folder}/b.xml")
    assert annotated_images(str(images)) == [(a, xa), (b, xb_beside)]


def test_annotated_images_explicit_folder(tmp_path):
    a = touch(tmp_path / "pics" / "a.jpg")
    touch(tmp_path / "pics" / "b.jpg")
    write(tmp_path, voc(), "pics/b.xml")  # ignored: only the explicit folder is searched
    xa = write(tmp_path, voc(), "labels/a.xml")
    assert annotated_images(tmp_path / "pics", tmp_path / "labels") == [(a, xa)]
