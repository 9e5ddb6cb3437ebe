"""The export dialog: format, output folder and which images (File → Export…)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

#: The formats offered: ``(label, fmt, voc_layout)``; ``fmt`` and ``voc_layout`` are the
#: exporter's names.
FORMATS = (
    ("Pascal VOC — VOCdevkit folder", "voc", "devkit"),
    ("Pascal VOC — XML beside each image", "voc", "beside"),
    ("YOLO", "yolo", "devkit"),
    ("COCO", "coco", "devkit"),
)


@dataclass(frozen=True)
class ExportChoice:
    """What to export: ``fmt`` ``voc``, ``yolo`` or ``coco``; ``voc_layout`` ``devkit`` or
    ``beside`` (``devkit`` for the other formats); ``out`` the output folder, None for VOC
    beside each image; ``include_unreviewed`` also images not yet reviewed that have
    accepted boxes; ``copy_images`` copies the images into the folder (VOC's
    ``JPEGImages/``, YOLO's ``images/``), so the export stands on its own."""

    fmt: str = "voc"
    voc_layout: str = "devkit"
    out: Path | None = None
    include_unreviewed: bool = False
    copy_images: bool = False

    @property
    def beside(self) -> bool:
        """Whether the files go beside the images (no output folder)."""
        return self.fmt == "voc" and self.voc_layout == "beside"


class ExportDialog(QDialog):
    """Choose an :class:`ExportChoice`, starting from ``initial`` (the last one).

    OK stays disabled until an output folder is typed or browsed to, unless the format
    writes beside the images (then the folder is disabled).
    """

    def __init__(self, initial: ExportChoice | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export")
        initial = initial or ExportChoice()
        self.format_box = QComboBox()
        for label, fmt, layout in FORMATS:
            self.format_box.addItem(label, (fmt, layout))
        keys = [(fmt, layout) for _label, fmt, layout in FORMATS]
        wanted = (initial.fmt, initial.voc_layout if initial.fmt == "voc" else "devkit")
        self.format_box.setCurrentIndex(keys.index(wanted) if wanted in keys else 0)
        self.folder_edit = QLineEdit("" if initial.out is None else str(initial.out))
        self.folder_edit.setPlaceholderText("output folder")
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(self.browse_button)
        self.reviewed_only = QRadioButton("Reviewed images only")
        self.with_accepted = QRadioButton("All images with accepted boxes")
        self.with_accepted.setToolTip(
            "Also images not yet reviewed, with the boxes accepted so far; an image is never "
            "exported as empty unless it was reviewed"
        )
        (self.with_accepted if initial.include_unreviewed else self.reviewed_only).setChecked(True)
        self.copy_images = QCheckBox("Copy the images into the folder")
        self.copy_images.setChecked(initial.copy_images)
        which = QVBoxLayout()
        which.addWidget(self.reviewed_only)
        which.addWidget(self.with_accepted)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("Format", self.format_box)
        form.addRow("Folder", folder_row)
        form.addRow("Images", which)
        form.addRow("", self.copy_images)
        form.addRow(self.buttons)
        self.format_box.currentIndexChanged.connect(self._update)
        self.folder_edit.textChanged.connect(self._update)
        self._update()

    def _beside(self) -> bool:
        return self.format_box.currentData() == ("voc", "beside")

    def _update(self) -> None:
        beside = self._beside()
        self.folder_edit.setEnabled(not beside)
        self.browse_button.setEnabled(not beside)
        fmt, _layout = self.format_box.currentData()
        self.copy_images.setEnabled(not beside and fmt in ("voc", "yolo"))
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(beside or bool(self.folder_edit.text().strip()))

    def _browse(self) -> None:
        start = self.folder_edit.text().strip()
        if path := QFileDialog.getExistingDirectory(self, "Export to folder", start):
            self.folder_edit.setText(path)

    def values(self) -> ExportChoice:
        """The choice shown; ``out`` is None for VOC beside each image."""
        fmt, layout = self.format_box.currentData()
        text = self.folder_edit.text().strip()
        out = None if self._beside() or not text else Path(text).expanduser()
        copy = self.copy_images.isEnabled() and self.copy_images.isChecked()
        return ExportChoice(fmt, layout, out, self.with_accepted.isChecked(), copy)
