"""The map methods' names and what the app calls them, importable without torch (the
window lists them before the network is loaded). :data:`core.engine.maps.METHODS` holds
one class per name here, in this order (checked by the tests)."""

from __future__ import annotations

#: Map method name → its label in the app's map selector.
MAP_LABELS: dict[str, str] = {
    "cam": "CAM",
    "gradcam": "Grad-CAM",
    "sensitivity": "Sensitivity",
    "attention": "Attention",
}
