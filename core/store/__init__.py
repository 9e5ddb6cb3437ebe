"""The project store: images, classes, boxes and review events of a project, in an SQLite file
or a PostgreSQL database named by URL.

Use :class:`Project` (see :mod:`core.store.project`); it returns plain rows and raises
:class:`StoreError` for problems a user can cause.
"""

from core.store.database import StoreError
from core.store.project import Project
from core.store.rows import (
    BoxRow,
    ImageRow,
    InvalidBoxError,
    InvalidClassNameError,
    LabelledImageRow,
    ModelVersionRow,
    StaleBoxError,
    TrainingBusyError,
    TrainingRunRow,
)

__all__ = [
    "BoxRow",
    "ImageRow",
    "InvalidBoxError",
    "InvalidClassNameError",
    "LabelledImageRow",
    "ModelVersionRow",
    "Project",
    "StaleBoxError",
    "StoreError",
    "TrainingBusyError",
    "TrainingRunRow",
]
