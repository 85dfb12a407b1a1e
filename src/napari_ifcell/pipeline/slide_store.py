"""The label store a slide's cells go to, and what replacing its cells asks of later steps:
used alike by segmenting and by taking another tool's cells (import-labels), from the CLI and
the Segment widget."""

from __future__ import annotations

from pathlib import Path


def store_folder(if_slide, folder=None) -> Path:
    """Where a slide's label store goes: ``folder``, else the slide's project folder."""
    from napari_ifcell.io.project import project_folder

    return Path(folder) if folder is not None else project_folder(if_slide.path)


def replaced_cells_note(folder, removed: int, *, kept_ids: bool = False) -> str:
    """A warning when cells that later steps were made from were replaced: the project's tables,
    predictions or review in ``folder`` now name cells the store no longer has (or, where a
    label image's ids were kept, other cells under the same ids). Empty when there are none."""
    from napari_ifcell.io.project import Project

    made = Project.at(folder).made_from_cells() if removed else []
    if not made:
        return ""
    how = "by the label image's cells, whose ids may repeat theirs" if kept_ids else "with new ids"
    return (
        f"{removed} cells were replaced {how}; the project's {', '.join(made)} may name them: "
        "quantify again (Gating) before gating, training, predicting or reviewing"
    )


def require_review_closed(*folders, here_ok: bool = False) -> None:
    """Refuse to replace cells while their review (in any of the project ``folders``) is open in
    a session (napari, another process): its queue, decisions and gallery would go on naming the
    cells that were there. ``here_ok``: a review this process holds (its viewer closes it after)."""
    from napari_ifcell.io.folder_lock import FolderLock
    from napari_ifcell.io.project import Project

    for folder in dict.fromkeys(Path(f) for f in folders):
        review = Project.at(folder).review
        if not (review / "session.lock").exists():
            continue
        lock = FolderLock(review, "session")
        if lock.try_acquire("a check that no session is reviewing these cells"):
            lock.release()
            continue
        if not (here_ok and lock.held_by_this_process()):
            raise FileExistsError(
                f"{review}: the review of these cells is open in a session ({lock.holder()}); close it there "
                "before replacing the cells"
            )


def remove_if_left_empty(store, made_here: bool) -> bool:
    """Remove a store made for cells that never came (a failed, cancelled or empty
    segmentation or import): no empty store for quantify to trip on. Only the store's own
    files go, then its folder if nothing else was put there (the project folder may hold
    regions saved meanwhile). True if removed."""
    import contextlib
    import shutil

    from napari_ifcell.io.atomic import LABEL_STORE_FILES
    from napari_ifcell.io.label_store import PARTIAL_INDEX_FILE

    if not made_here or len(store.index):
        return False
    folder = Path(store.folder)
    for name in (*LABEL_STORE_FILES, PARTIAL_INDEX_FILE):
        path = folder / name
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # something else is kept there
        folder.rmdir()
    return True


def slide_store(if_slide, folder=None):
    """The label store a slide's cells go to (:func:`store_folder`), created on first use with
    the slide's shape, pixel size and identity (a store made for another slide is refused)."""
    from napari_ifcell.io.label_store import LabelStore, slide_identity
    from napari_ifcell.io.project import legacy_project_folder
    from napari_ifcell.pipeline.tiling import cells_pixel_size

    identity = slide_identity(if_slide)
    given, folder = folder, store_folder(if_slide, folder)
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder}: a file, not a folder; expected a label store folder (new or existing)")
    if given is None:
        legacy = legacy_project_folder(if_slide.path)
        if legacy != folder and not folder.exists() and _may_be_this_slides(legacy, identity["fingerprint"]):
            raise FileExistsError(
                f"{legacy}: a label store named the way older versions named it, shared by every slide whose "
                f"name starts with {legacy.stem!r}. This slide's store is now {folder.name}: if {legacy.name} "
                f"holds {Path(if_slide.path).name}'s cells, rename it to {folder.name}; else give --store"
            )
    store = LabelStore.open_or_create(
        folder, if_slide.shape, pixel_size_um=if_slide.require_pixel_size(), slide=identity
    )
    cells_pixel_size(if_slide, folder)  # new cells on the grid of those it holds, or refused
    return store


def _may_be_this_slides(legacy: Path, fingerprint: str) -> bool:
    """An old shared store that records no slide, or records this one."""
    from napari_ifcell.io.label_store import LabelStore

    meta = LabelStore.recorded(legacy)
    if meta is None:
        return False
    recorded = meta.get("slide")
    return recorded is None or recorded.get("fingerprint") == fingerprint
