"""The heatmap's map selector: the map types it offers and the cache of maps of a chosen type."""

from __future__ import annotations

from collections import OrderedDict

from core.engine.map_names import MAP_LABELS

#: The map selector: label → map type (a map method's own recipe in
#: ``core.engine.proposals.RECIPES``), None for the map the proposals came from. Read from
#: :data:`~core.engine.map_names.MAP_LABELS`, so listing them loads no torch.
MAP_TYPES: dict[str, str | None] = {
    "Proposals' map": None,
    **{label: name for name, label in MAP_LABELS.items()},
}
#: How many maps of a chosen type stay in memory (``(224, 224)`` float32, 200 kB each).
TYPED_MAPS = 64


class TypedMaps:
    """The most recently computed maps of chosen types, by image and map type; the
    oldest is dropped beyond ``size``."""

    def __init__(self, size: int = TYPED_MAPS) -> None:
        self.size = size
        self._maps: OrderedDict[tuple[int, str], object] = OrderedDict()

    def get(self, image_id: int, kind: str):
        """The cached map of type ``kind`` for an image, or None."""
        return self._maps.get((image_id, kind))

    def put(self, image_id: int, kind: str, heat: object) -> None:
        """Keep a map (the newest), dropping the oldest beyond ``size``."""
        self._maps[(image_id, kind)] = heat
        self._maps.move_to_end((image_id, kind))
        while len(self._maps) > self.size:
            self._maps.popitem(last=False)

    def clear(self) -> None:
        self._maps.clear()
