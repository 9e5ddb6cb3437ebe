"""Saliency maps: one small class per method over :class:`~core.maps.base.SaliencyMethod`."""

from core.maps.base import MapResult, SaliencyMethod
from core.maps.cam import CAM
from core.maps.gradcam import GradCAM
from core.maps.sensitivity import AttentionSensitivity, Sensitivity

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
