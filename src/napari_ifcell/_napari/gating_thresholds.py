"""The three thresholds of one marker in the Gating widget: a range slider on the histogram's
display axis (asinh, log1p or linear) and the same values in raw intensity, typed exactly."""

from __future__ import annotations

import math

import numpy as np
from qtpy.QtCore import QSignalBlocker, Qt, Signal
from qtpy.QtGui import QDoubleValidator
from qtpy.QtWidgets import QGridLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

SLIDER_STEPS = 1000
FIELD_NAMES = ("negative <", "positive \u2265", "over-exposed \u2265")
FIELD_TIPS = (
    "raw intensity below which a cell is negative",
    "raw intensity from which a cell is positive",
    "raw intensity from which a cell is over-exposed (empty: no limit)",
)


class ThresholdControls(QWidget):
    """Shows one gate; ``dragged`` carries the raw thresholds the slider was moved to,
    ``typed`` says the fields were edited (read them with :meth:`typed_thresholds`)."""

    dragged = Signal(object)
    typed = Signal()

    def __init__(self):
        from superqt import QLabeledDoubleRangeSlider

        super().__init__()
        self.gate = None
        self.edges = np.array([0.0, 1.0])
        self._handles: tuple = ()  # the slider values last shown or dragged to
        self.slider = QLabeledDoubleRangeSlider(Qt.Orientation.Horizontal)
        self.slider.setDecimals(3)
        # the handles' own labels round to a few digits ("3 3 5"): the exact values are in the fields
        self.slider.setHandleLabelPosition(QLabeledDoubleRangeSlider.LabelPosition.NoLabel)
        self.slider.valueChanged.connect(self._on_slider)
        self.fields = [QLineEdit() for _ in FIELD_NAMES]
        for field, tip in zip(self.fields, FIELD_TIPS):
            field.setValidator(QDoubleValidator())
            field.setToolTip(tip)
            field.editingFinished.connect(self.typed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Thresholds: negative | uncertain | positive | over-exposed"))
        layout.addWidget(self.slider)
        layout.addWidget(QLabel("Thresholds in raw intensity (type a value, Enter):"))
        grid = QGridLayout()  # names above fields: each field wide enough for its value
        for column, (name, field) in enumerate(zip(FIELD_NAMES, self.fields)):
            grid.addWidget(QLabel(name), 0, column)
            grid.addWidget(field, 1, column)
        layout.addLayout(grid)

    def to_display(self, raw) -> np.ndarray:
        """Raw thresholds on the display axis (an infinite limit drawn at the far end)."""
        from napari_ifcell.core.gating import forward

        return forward(np.minimum(raw, 1e300), self.gate.transform, self.gate.cofactor)

    def show_gate(self, gate, edges: np.ndarray) -> None:
        """The slider over the histogram's range at the gate's thresholds, and the raw values."""
        self.gate, self.edges = gate, edges
        with QSignalBlocker(self.slider):
            self.slider.setRange(float(edges[0]), float(edges[-1]))
            self.slider.setSingleStep((edges[-1] - edges[0]) / SLIDER_STEPS)
            self.slider.setValue(
                tuple(float(np.clip(v, edges[0], edges[-1])) for v in self.to_display(gate.thresholds))
            )
        self._handles = tuple(self.slider.value())
        self.follow(gate)

    def follow(self, gate) -> None:
        """The gate as changed elsewhere (a drag, typed values): its raw values in the fields."""
        self.gate = gate
        for field, value in zip(self.fields, gate.thresholds):
            if not field.hasFocus():  # never overwrite what the user is typing
                field.setText("" if math.isinf(value) else f"{value:.6g}")

    def typed_thresholds(self) -> list[float]:
        """The raw thresholds in the fields (an empty over-exposed field: no limit)."""
        texts = [f.text().strip() for f in self.fields]
        if not texts[0] or not texts[1]:
            raise ValueError("type the negative and positive thresholds (raw intensity)")
        values = []
        for name, text in zip(("negative", "positive", "over-exposed"), texts):
            try:
                values.append(float(text) if text else math.inf)
            except ValueError:
                raise ValueError(f"{name} threshold: {text!r} is not a number (raw intensity)") from None
        return values

    def _on_slider(self, values) -> None:
        from napari_ifcell.core.gating import inverse

        if self.gate is None:
            return
        raw = [float(inverse(v, self.gate.transform, self.gate.cofactor)) for v in values]
        # A handle that did not move keeps its threshold exactly: the slider holds it clipped
        # to the histogram's range (an over-exposed limit past the brightest cell) and rounded.
        for i, (now, was) in enumerate(zip(values, self._handles)):
            if now == was:
                raw[i] = self.gate.thresholds[i]
        if values[2] >= self.edges[-1] and math.isinf(self.gate.thresholds[2]):
            raw[2] = math.inf  # a slider at the top keeps "no over-exposure limit"
        self._handles = tuple(values)
        self.dragged.emit(raw)
