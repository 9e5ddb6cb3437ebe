"""The proposal settings dialog: backbone, device, method, batch size and when to retrain."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QSpinBox,
    QWidget,
)

DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class ProposalSettings:
    """How the worker proposes boxes (strings are names the engine knows). The defaults
    are the app's (``desktop_app.project_settings.DEFAULTS``)."""

    backbone: str
    device: str
    method: str
    #: Images per forward pass.
    batch_size: int
    #: Fine-tune after this many newly accepted boxes; 0: only on demand.
    retrain_after: int
    #: Also fine-tune the network's last block so its maps fall inside accepted boxes
    #: (slower training; see the README's learning-loop figures).
    align_saliency: bool
    #: Also learn from unverified pseudo-labels (``python main.py score --pseudo-labels``).
    pseudo_labels: bool


class SettingsDialog(QDialog):
    """Edit :class:`ProposalSettings`; the choices are given by the app (no torch here).

    Args:
        backbones: backbone names to offer.
        methods: proposal method names to offer.
        current: the settings to start from.
    """

    def __init__(
        self,
        backbones: list[str],
        methods: list[str],
        current: ProposalSettings,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Proposal settings")
        self.backbone = self._combo(backbones, current.backbone)
        self.device = self._combo(list(DEVICES), current.device)
        self.method = self._combo(methods, current.method)
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 64)
        self.batch_size.setValue(current.batch_size)
        self.retrain_after = QSpinBox()
        self.retrain_after.setSpecialValueText("never")
        self.retrain_after.setRange(0, 10_000)
        self.retrain_after.setValue(current.retrain_after)
        self.retrain_after.setToolTip(
            "Train again after N more accepted boxes, or 25% more once the set is larger;"
            " 0: train only with Tools → Train now"
        )
        self.align_saliency = QCheckBox("Align saliency with accepted boxes (slower)")
        self.align_saliency.setChecked(current.align_saliency)
        self.align_saliency.setToolTip(
            "Fine-tune the network's last block so that its maps fall inside your boxes"
        )
        form = QFormLayout(self)
        form.addRow("Backbone", self.backbone)
        form.addRow("Device", self.device)
        form.addRow("Method", self.method)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Retrain after N accepted boxes", self.retrain_after)
        form.addRow("Fine-tuning", self.align_saliency)
        self.pseudo_labels = QCheckBox("Learn from unverified pseudo-labels too")
        self.pseudo_labels.setChecked(current.pseudo_labels)
        form.addRow("", self.pseudo_labels)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    @staticmethod
    def _combo(items: list[str], current: str) -> QComboBox:
        combo = QComboBox()
        combo.addItems(items)
        combo.setCurrentIndex(max(0, combo.findText(current)))
        return combo

    def values(self) -> ProposalSettings:
        return ProposalSettings(
            self.backbone.currentText(),
            self.device.currentText(),
            self.method.currentText(),
            self.batch_size.value(),
            self.retrain_after.value(),
            self.align_saliency.isChecked(),
            self.pseudo_labels.isChecked(),
        )
