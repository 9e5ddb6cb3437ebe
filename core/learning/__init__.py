"""The learning loop: from accepted boxes to better proposals, headless.

:mod:`evidence` (features and maps per image), :mod:`class_head` (a linear head on the
user's classes, for CAM), :mod:`ridge` (closed-form ridge and the map-to-box regressor),
:mod:`localizers` (one small class per way of locating a class), :mod:`trainer`
(cross-validation per class and the choice it makes), :mod:`model` (a model version and
its file).
"""
