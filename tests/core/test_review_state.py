import numpy as np
import pytest

from napari_ifcell.core.review.state import REJECTED, ReviewState


def fresh():
    return ReviewState.from_auto([30, 10, 20, 40], ["other", "CD4 T", None, "B cell"])


def events():
    return [
        {"op": "review", "action": "approve", "cells": [10], "who": "ana", "t": 1.0},
        {"op": "review", "action": "set_class", "cells": [30], "class": "CD8 T", "who": "ana", "t": 2.0},
        {"op": "review", "action": "reject", "cells": [40], "who": "ben", "t": 3.0},
        {"op": "undo", "who": "ben", "t": 4.0},
        {"op": "review", "action": "set_class", "cells": [20], "class": "macrophage", "who": "ben", "t": 5.0},
        {"op": "review", "action": "set_class", "cells": [10], "class": "CD8 T", "who": "ben", "t": 6.0},
    ]


def test_decisions_set_label_status_and_who():
    state = fresh()
    for e in events():
        state.apply(e)
    t = state.table().set_index("CellID")
    assert t.loc[10, ["reviewed_class", "review_status", "reviewer"]].tolist() == ["CD8 T", "corrected", "ben"]
    assert t.loc[30, ["reviewed_class", "review_status", "label_source"]].tolist() == ["CD8 T", "corrected", "person"]
    assert t.loc[20, ["auto_class", "reviewed_class", "review_status"]].tolist() == [None, "macrophage", "corrected"]
    assert t.loc[40, "review_status"] == "unreviewed" and t.loc[40, "reviewed_class"] is None  # the reject was undone
    assert str(t.loc[30, "reviewed_at"]) == "1970-01-01 00:00:02+00:00"
    # each reviewer's own last decisions are kept, for agreement between reviewers
    assert state.by_reviewer["ana"] == {10: 0, 30: 1} and state.by_reviewer["ben"] == {20: 3, 10: 1}


def test_replay_gives_the_same_state():
    a, b = fresh(), fresh()
    for e in events():
        a.apply(e)
    for e in events():
        b.apply(e)
    assert a.equals(b) and not a.equals(fresh())


def test_undo_redo_walk_back_and_forth():
    state = fresh()
    initial = fresh()
    for e in events()[:3]:
        state.apply(e)
    after_three = fresh()
    for e in events()[:3]:
        after_three.apply(e)
    for _ in range(3):
        state.apply({"op": "undo"})
    assert all(np.array_equal(getattr(state, c), getattr(initial, c)) for c in ("label", "status", "source"))
    assert state.by_reviewer == {"ana": {}, "ben": {}}
    state.apply({"op": "undo"})  # nothing left: no change
    for _ in range(3):
        state.apply({"op": "redo"})
    assert np.array_equal(state.status, after_three.status) and state.by_reviewer["ben"] == {40: REJECTED}
    state.apply({"op": "undo"})
    state.apply({"op": "review", "action": "approve", "cells": [40], "who": "ben"})
    state.apply({"op": "redo"})  # a new edit dropped the redo history
    assert state.table().set_index("CellID").loc[40, "review_status"] == "approved"


def test_approve_needs_a_label_and_unknown_cells_are_refused():
    state = fresh()
    state.apply({"op": "review", "action": "approve", "cells": [20, 10], "who": "a"})
    t = state.table().set_index("CellID")
    assert t.loc[20, "review_status"] == "unreviewed" and t.loc[10, "review_status"] == "approved"
    with pytest.raises(KeyError, match="99"):
        state.apply({"op": "review", "action": "approve", "cells": [99], "who": "a"})
