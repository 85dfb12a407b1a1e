"""`napari-ifcell demo`: generate a synthetic pair and open it with every step docked as tabs."""

from __future__ import annotations

from pathlib import Path

DEMO_ZOOM = 2.0  # screen pixels per µm: nuclei (~8 µm) are clearly visible
OFFSET_REGION_PX = 1024  # the central region the H&E offset is estimated on


def run_demo(out_dir: str | Path, *, shape=(4096, 4096), seed: int = 0, show: bool = True):
    """Make (or reuse) a synthetic pair in ``out_dir`` and open it in a new viewer: the Loader
    tab in front, the H&E offset estimated, the view zoomed in on tissue. Returns
    ``(viewer, workflow widget)``."""
    import napari

    from napari_ifcell._napari.view import camera_of
    from napari_ifcell._napari.workflow_widget import WorkflowWidget
    from napari_ifcell.synth import SyntheticPair, make_synthetic_pair

    files = SyntheticPair.in_folder(out_dir)
    if not files.exists():
        print(f"Generating a {shape[0]} x {shape[1]} synthetic Orion-like pair in {files.folder} ...")
        make_synthetic_pair(files.folder, shape=tuple(shape), seed=seed, progress=_print_progress)
        print()
    else:
        _say_reused(files, shape, seed)
    viewer = napari.Viewer(title="napari-ifcell demo", show=show)
    workflow = WorkflowWidget(viewer)
    viewer.window.add_dock_widget(workflow, name="napari-ifcell", area="right")
    loader = workflow.steps["Loader"]
    loader.if_file.value, loader.he_file.value = files.if_path, files.he_path
    loader.open_pair(files.if_path, files.he_path, sync=True)  # before the event loop starts
    workflow.show_step("Loader")
    if loader.pair is not None:
        _estimate_offset(loader)
        h, w = loader.pair.if_slide.shape
        ps = loader.pair.if_slide.pixel_size_um
        camera_of(viewer).center = (h * ps / 2, w * ps / 2)
        camera_of(viewer).zoom = DEMO_ZOOM
    if show:
        viewer.window._qt_window.showMaximized()
    return viewer, workflow


def _print_progress(stage: str, i: int, n: int) -> None:
    """One updating terminal line: the generation's stage and how far it is."""
    print(f"\r  {stage}: {i} of {n}   ", end="", flush=True)


def _estimate_offset(loader) -> None:
    """The H&E offset, estimated on the slide's central region, into the Loader's fields."""
    slide = loader.pair.if_slide
    h, w = (min(n, OFFSET_REGION_PX) for n in slide.shape)
    y, x = (slide.shape[0] - h) // 2, (slide.shape[1] - w) // 2
    try:
        estimate = loader.pair.estimate_offset(y, x, h, w)
    except Exception as exc:  # noqa: BLE001 - the demo opens without it; the user can estimate again
        loader.status.value = f"Offset not estimated: {exc}"
        return
    loader.use_estimate(estimate)


def _say_reused(files, shape, seed) -> None:
    """An earlier demo's pair is opened again: said, with its size and seed where they are not
    the ones asked for (a new pair needs another folder)."""
    import json

    truth = json.loads(files.truth_path.read_text())
    made = (tuple(truth["shape"]), truth["seed"])
    print(f"Opening the synthetic pair in {files.folder} (made before)")
    if made != (tuple(shape), seed):
        print(
            f"  it is {made[0][0]} x {made[0][1]} px, seed {made[1]}, not the {shape[0]} x {shape[1]} px, "
            f"seed {seed} asked for: give another --out-dir to generate that one"
        )
