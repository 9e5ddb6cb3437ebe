"""Saliency maps: one small class per method over :class:`~core.engine.maps.base.SaliencyMethod`.

A new method is one module with its class (``name``, ``label`` and the options of its own
recipe), one entry in :data:`METHODS` and its label in
:data:`core.engine.map_names.MAP_LABELS` (which the app reads without loading torch); the
recipes of ``core.engine.proposals`` derive from :data:`METHODS`.
"""

from core.engine.maps.base import MapResult, SaliencyMethod
from core.engine.maps.cam import CAM
from core.engine.maps.gradcam import GradCAM
from core.engine.maps.sensitivity import AttentionSensitivity, Sensitivity

#: Every map method by name, in the order the app offers them.
METHODS: dict[str, type[SaliencyMethod]] = {
    cls.name: cls for cls in (CAM, GradCAM, Sensitivity, AttentionSensitivity)
}

__all__ = [
    "CAM",
    "METHODS",
    "AttentionSensitivity",
    "GradCAM",
    "MapResult",
    "SaliencyMethod",
    "Sensitivity",
]
