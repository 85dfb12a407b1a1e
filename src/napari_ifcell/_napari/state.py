"""One viewer's shared workflow state: the slides the Loader opened and their project.

Every widget of a viewer reads the same :class:`WorkflowState`, so the Loader's pixel-size
overrides and H&E offset (they live in the opened slide objects) reach every step, and a
file one step writes that a later step starts from (label store, gated table, predictions)
comes prefilled in that step's fields. A widget that writes such a file calls
:meth:`WorkflowState.announce`; widgets that show it listen to :attr:`WorkflowState.changed`.
"""

from __future__ import annotations

import getpass
import weakref
from pathlib import Path

from psygnal import Signal

from napari_ifcell.io.project import Project

# what ``changed`` names: the Loader's slides, and the files later steps start from
SLIDES = "slides"
LABELS = "labels"
GATED = "gated"
PREDICTIONS = "predictions"


class WorkflowState:
    """The slides on screen and the project folder the steps read and write.

    ``slide`` is the slide cells are placed on: the IF, or an H&E opened alone. ``pair`` is
    the SlidePair when an IF and its H&E are open together (None otherwise). ``user``: who
    moves gates and reviews cells, recorded with what they set (the login name until the
    Review widget's *Reviewer* is filled in).
    """

    changed = Signal(str)

    def __init__(self) -> None:
        self.slide = None
        self.pair = None
        self.user = login_name()
        self.reader_slides_taker = None  # a weak reference to the Loader that takes up File > Open's slides

    # --- the slides ----------------------------------------------------------------------
    def set_slides(self, slide, pair=None) -> None:
        """What the Loader opened; the previous slides are forgotten (their layers' owner closes them)."""
        self.slide, self.pair = slide, pair
        self.changed.emit(SLIDES)

    def clear(self) -> None:
        self.set_slides(None, None)

    @property
    def if_slide(self):
        """The fluorescence slide, or None when only an H&E is open."""
        if self.pair is not None:
            return self.pair.if_slide
        return self.slide if self.slide is not None and not self.slide.is_rgb else None

    @property
    def he_slide(self):
        """The H&E slide (of the pair, or opened alone), or None."""
        if self.pair is not None:
            return self.pair.he_slide
        return self.slide if self.slide is not None and self.slide.is_rgb else None

    def path_of(self, role: str) -> Path | None:
        """The file of the ``"if"`` or ``"he"`` slide on screen, or None."""
        slide = self.if_slide if role == "if" else self.he_slide
        return Path(slide.path) if slide is not None else None

    # --- the project -------------------------------------------------------------------------
    @property
    def project(self) -> Project | None:
        """The slide's project folder (``<slide>.ifcell`` next to it), or None with no slide open."""
        return Project.for_slide(self.slide.path) if self.slide is not None else None

    def existing(self, what: str) -> Path | None:
        """A project file (a ``Project`` attribute: ``"labels"``, ``"gated_table"``, ``"gates"``,
        ``"predictions"``...) when it exists, else None. The label store exists once it has
        its ``store.json`` (the project folder alone is not a store), a patch data set once it
        has its ``config.json``."""
        project = self.project
        if project is None:
            return None
        path = getattr(project, what)
        marker = {"labels": "store.json", "dataset": "config.json"}.get(what)
        found = (path / marker).is_file() if marker else path.exists()
        return path if found else None

    def learnt_by(self) -> Path | None:
        """Where our classifier's training cells are told: the folder of the model that made most
        of the slide's predictions, where it records them, else the project's data set."""
        from napari_ifcell.pipeline.classify import recorded_model

        predictions = self.existing("predictions")
        return (recorded_model(predictions) if predictions is not None else None) or self.existing("dataset")

    def announce(self, what: str) -> None:
        """Tell the other widgets that a step wrote ``what`` (one of this module's names)."""
        self.changed.emit(what)


def login_name() -> str:
    """The operating system's name for the person logged in, or "" where it has none."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no such user in the password database, no variables set
        return ""


_STATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def workflow_state(viewer) -> WorkflowState:
    """The viewer's shared state, made on first use."""
    state = _STATES.get(viewer)
    if state is None:
        state = _STATES[viewer] = WorkflowState()
    return state
