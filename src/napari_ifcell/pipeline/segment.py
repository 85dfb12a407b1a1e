"""Segment nuclei over a region of a slide, tile by tile, into the slide's label store.

Each tile is read with a halo; the backend labels it; the tile keeps the objects whose
centroid is in its core (core.tiles), which get fresh ids and are painted where the store
is empty. Before the first tile, the cells the store already has in the region are
removed, so re-running a region replaces its cells. The work is a generator that yields
``(stage, i, n)`` and returns a :class:`SegmentResult`; closing it (a cancel) stops after
the current tile with the store committed and consistent.
"""

from __future__ import annotations

import time
from contextlib import closing
from dataclasses import asdict, dataclass, field

import numpy as np

from napari_ifcell.core.segment.adaptive import NO_EDGES
from napari_ifcell.core.segment.learned import LEARNED_BACKENDS
from napari_ifcell.core.segment.watershed import WatershedSettings, slide_threshold, stain_signal, watershed_nuclei
from napari_ifcell.core.tiles import owned_labels
from napari_ifcell.io.channels import nuclear_channel_index
from napari_ifcell.io.errors import SlideError
from napari_ifcell.pipeline.tile_threads import in_order
from napari_ifcell.pipeline.tiling import core_in, halo_window, region_on_slide, slide_edges_of, tiles

BACKENDS = ("auto", "hoechst", "he", "sam", "sam-if-seeded", "custom", "cellpose", "instanseg")
MODEL_INPUTS = ("", "nuclear", "he")
THRESHOLD_SAMPLES = 16
RADIUS_SAMPLES = 4


@dataclass(frozen=True)
class SegmentSettings:
    """Which backend, how big the tiles are, and its parameters (shared by GUI and CLI).

    ``tile`` and ``halo`` are in level-0 pixels; the halo must exceed the radius of the
    largest nucleus (Immunocto's 4320 px area at 0.325 µm is a 37 px radius). ``model`` and
    ``model_input`` are for the learned backends (core.segment.learned).
    """

    backend: str = "auto"  # hoechst for a fluorescence slide, he for an RGB one
    tile: int = 512
    halo: int = 48
    nuclear_channel: str = ""  # name or index; empty: the channel named Hoechst, DAPI, DNA...
    watershed: WatershedSettings = field(default_factory=WatershedSettings)
    sam: object = None  # SamSettings for the SAM backends
    model: str = ""  # custom: 'package.module:function' or 'file.py:function'; cellpose/instanseg: name or file
    model_input: str = ""  # what a learned model reads: nuclear (stain channel) or he; empty: what the slide is

    @property
    def needs_model(self) -> bool:
        """Whether the backend segments with a model that is loaded first (SAM, learned)."""
        return self.backend.startswith("sam") or self.backend in LEARNED_BACKENDS

    @property
    def tile_threads(self) -> int | None:
        """Tiles at once without a cluster: 1 for a model (it holds the GPU, or all cores,
        itself), else None (``pipeline.tile_threads``: one per core)."""
        return 1 if self.needs_model else None

    def problems(self) -> list[str]:
        out = [] if self.backend in BACKENDS else [f"unknown backend {self.backend!r}; choose from {BACKENDS}"]
        if self.model_input not in MODEL_INPUTS:
            out.append(f"model_input must be nuclear or he (or empty), got {self.model_input!r}")
        if self.backend in BACKENDS and self.backend not in LEARNED_BACKENDS and (self.model or self.model_input):
            out.append(f"model and model_input are for the custom, cellpose and instanseg backends, not {self.backend}")
        if self.backend == "custom" and not self.model:
            out.append("the custom backend needs a model: 'package.module:function' or 'path/to/file.py:function'")
        if self.tile < 64 or self.halo < 0:
            out.append(f"tile must be >= 64 and halo >= 0 px, got {self.tile}, {self.halo}")
        out += self.watershed.problems()
        if self.sam is not None:
            out += self.sam.problems()
        return out


@dataclass(frozen=True)
class SegmentResult:
    cells: int
    removed: int
    tiles: int
    seconds: float
    run: int
    completed: bool
    backend: str = ""
    region: tuple = ()
    threshold: float | None = None  # the stain threshold the watershed used

    @property
    def found_nothing(self) -> str | None:
        """What to say when a finished run found no cell, else None."""
        if self.cells or not self.completed:
            return None
        used = f" (stain threshold {self.threshold:.4g})" if self.threshold is not None else ""
        h, w = self.region[2:] if len(self.region) == 4 else ("?", "?")
        return (
            f"0 cells found in {h} x {w} px with the {self.backend} backend{used}: if there is tissue here, "
            "lower the threshold (--threshold), pick the nuclear channel (--nuclear-channel) or another backend"
        )


def resolve_backend(settings: SegmentSettings, slide, pair=None) -> SegmentSettings:
    """``settings`` with a concrete backend for this slide: ``auto`` follows what the slide is
    (fluorescence -> hoechst, RGB -> he); a backend the slide cannot feed is refused."""
    from dataclasses import replace

    backend = settings.backend
    if backend == "auto":
        backend = "he" if slide.is_rgb else "hoechst"
    has_he = slide.is_rgb or pair is not None
    if backend == "hoechst" and slide.is_rgb:
        raise SlideError(
            slide.path,
            "is an RGB (H&E) image but the hoechst backend segments a nuclear stain channel; use --backend he",
        )
    if backend in ("he", "sam") and not has_he:
        raise SlideError(
            slide.path,
            f"the {backend} backend segments the H&E, and this slide is fluorescence: give its registered H&E "
            "(--he) or use --backend hoechst",
        )
    if backend == "sam-if-seeded" and (slide.is_rgb or pair is None):
        raise SlideError(slide.path, "the sam-if-seeded backend needs the IF slide and its registered H&E (--he)")
    if backend not in LEARNED_BACKENDS:
        return replace(settings, backend=backend)
    model_input = settings.model_input or ("he" if slide.is_rgb else "nuclear")
    if model_input == "nuclear" and slide.is_rgb:
        raise SlideError(slide.path, f"is an RGB (H&E) image: the {backend} model can read it with --model-input he")
    if model_input == "he" and not has_he:
        raise SlideError(slide.path, f"the {backend} model reads the H&E: give the registered H&E (--he)")
    return replace(settings, backend=backend, model_input=model_input)


class TileReader:
    """Reads what a backend needs for a level-0 window: the nuclear stain and/or the H&E
    (the pair's, aligned to the IF; or the slide itself when it is an H&E)."""

    def __init__(self, if_slide, pair=None, *, nuclear_channel: str | int | None = None):
        from napari_ifcell.io.chunk_cache import read_through_cache

        self.if_slide = if_slide
        self.pair = pair
        for slide in (if_slide, getattr(pair, "he_slide", None)):  # tiles' halos overlap: decode once
            if slide is not None:
                read_through_cache(slide)
        self.wanted = None if nuclear_channel in (None, "") else nuclear_channel
        self._channel: int | None = None

    @property
    def channel(self) -> int:
        """The nuclear stain's channel, looked up when a backend first needs it."""
        if self.if_slide.is_rgb:
            raise SlideError(self.if_slide.path, "is an RGB image: it has no nuclear stain channel")
        if self._channel is None:
            self._channel = nuclear_channel_index(self.if_slide.channel_names, self.wanted, path=self.if_slide.path)
        return self._channel

    def hoechst(self, y, x, h, w, *, um_per_px: float | None = None) -> np.ndarray:
        """The nuclear stain over a level-0 window, or a window in pixels of ``um_per_px``."""
        return self.if_slide.read_region(y, x, h, w, um_per_px=um_per_px, channels=[self.channel])[0]

    def he(self, y, x, h, w, *, um_per_px: float | None = None) -> np.ndarray:
        """The H&E over a level-0 window, or a window in pixels of ``um_per_px``."""
        if self.pair is None:
            if self.if_slide.is_rgb:
                return self.if_slide.read_region(y, x, h, w, um_per_px=um_per_px, fill=255)
            raise ValueError("this backend segments the H&E: open the IF slide together with its H&E")
        # Beyond the slide is white glass: black would read as the densest hematoxylin.
        return self.pair.read_he_aligned(
            y, x, h, w, um_per_px=um_per_px or self.if_slide.require_pixel_size(), fill=255
        )

    def signal(self, backend: str, y, x, h, w) -> np.ndarray:
        return stain_signal(self.hoechst(y, x, h, w) if backend == "hoechst" else self.he(y, x, h, w), backend)


def estimate_threshold(reader: TileReader, backend: str, region, *, seed: int = 0, tile: int = 512) -> float:
    """One stain threshold for the whole run: Otsu over tiles sampled across the region,
    so that a tile of empty glass does not split its noise into nuclei."""
    samples = _sampled_signals(reader, backend, region, THRESHOLD_SAMPLES, seed=seed, tile=tile)
    return slide_threshold(np.concatenate([s.ravel() for s in samples]))


def _sampled_signals(reader: TileReader, backend: str, region, n: int, *, seed: int = 0, tile: int = 512):
    y, x, h, w = region
    rng = np.random.default_rng(seed)
    th, tw = min(tile, h), min(tile, w)
    return [
        reader.signal(backend, int(rng.integers(y, y + h - th + 1)), int(rng.integers(x, x + w - tw + 1)), th, tw)
        for _ in range(n)
    ]


def run_watershed_settings(reader: TileReader, backend: str, settings: WatershedSettings, region) -> WatershedSettings:
    """``settings`` with what the method estimates filled in once for the whole run (the
    classic stain threshold, the adaptive nucleus radius), so every tile uses the same."""
    from dataclasses import replace

    if settings.method == "classic" and settings.threshold is None:
        return replace(settings, threshold=estimate_threshold(reader, backend, region))
    if settings.method == "adaptive" and settings.nucleus_radius_um is None:
        from napari_ifcell.core.segment.adaptive import estimate_nucleus_radius

        ps = reader.if_slide.require_pixel_size()
        samples = _sampled_signals(reader, backend, region, RADIUS_SAMPLES)
        return replace(settings, nucleus_radius_um=estimate_nucleus_radius(samples, pixel_size_um=ps) * ps)
    return settings


def segment_region(
    if_slide, store, *, pair=None, region=None, settings: SegmentSettings = SegmentSettings(), model=None
):
    """Generator: segment ``region`` (level-0 ``y, x, h, w``; default the whole slide).

    ``model`` is a SAM model (``sam`` backends) or a tile segmenter (learned backends:
    ``model(image, pixel_size_um) -> labels``, see core.segment.learned). Yields ``(stage, i, n)``; returns a
    :class:`SegmentResult` (``StopIteration.value``; see :func:`run_to_end`).
    """
    problems = settings.problems()
    if problems:
        raise ValueError("invalid segmentation settings: " + "; ".join(problems))
    settings = resolve_backend(settings, if_slide, pair)
    if settings.needs_model and model is None:
        how = "give a checkpoint path" if settings.backend.startswith("sam") else "segment_slide loads settings.model"
        raise ValueError(f"the {settings.backend} backend needs a model: {how}")
    if_slide.require_pixel_size()
    region = region_on_slide(region, if_slide.shape, if_slide.path)
    reader = TileReader(if_slide, pair, nuclear_channel=settings.nuclear_channel)
    segment_tile, threshold = _tile_segmenter(reader, settings, region, model)
    start = time.perf_counter()
    store.begin(f"segment {settings.backend} over {list(region)}")
    cells, done, removed = 0, 0, 0
    try:
        run = store.start_run(
            {"backend": settings.backend, "region": list(region), "settings": _settings_dict(settings)}
        )
        removed = len(store.clear_cells(region))
        todo = tiles(region, settings.tile)

        def owned_nuclei(box):
            window = halo_window(box, settings.halo, if_slide.shape)
            return window, owned_labels(segment_tile(*window), core_in(window, box))

        yield ("segment", 0, len(todo))
        with closing(in_order(owned_nuclei, todo, settings.tile_threads)) as segmented:
            for window, labels in segmented:
                n = int(labels.max())
                if n:  # painted in the tiles' order: the same ids however many threads
                    ids = store.new_ids(n)
                    painted = np.where(labels > 0, ids[np.maximum(labels - 1, 0)], 0)
                    cells += store.paint(painted, (window[0], window[1]), run)
                done += 1
                if done < len(todo):
                    yield ("segment", done, len(todo))
    except GeneratorExit:  # cancelled: what was painted is indexed and kept
        store.commit()
        raise
    except BaseException:  # failed (a full disk, an error): the store as it was before
        store.roll_back()
        raise
    if cells == 0:  # found nothing (an error for the caller): the region's earlier cells stay
        store.roll_back()
        removed = 0
    else:
        store.commit()
    yield ("segment", len(todo), len(todo))
    seconds = time.perf_counter() - start
    return SegmentResult(
        cells, removed, done, seconds, run, done == len(todo), settings.backend, tuple(region), threshold
    )


def segment_slide(if_slide, store, *, pair=None, region=None, settings: SegmentSettings = SegmentSettings()):
    """Generator: :func:`segment_region` with the model its backend needs loaded first (a SAM
    checkpoint or a learned model takes seconds: it loads in the same worker, as the stage
    ``loading SAM`` or ``loading model``)."""
    problems = settings.problems()
    if problems:
        raise ValueError("invalid segmentation settings: " + "; ".join(problems))
    model = None
    if settings.needs_model:
        settings = resolve_backend(settings, if_slide, pair)
        is_sam = settings.backend.startswith("sam")
        if is_sam:
            _sam_checkpoint(settings)  # a missing one is said before anything starts
        yield ("loading SAM" if is_sam else "loading model", 0, 1)
        model = load_model(settings)
    return (yield from segment_region(if_slide, store, pair=pair, region=region, settings=settings, model=model))


def load_model(settings: SegmentSettings):
    """The model a resolved backend segments with: a SAM model, a learned backend's tile
    segmenter (core.segment.learned), or None for the watershed."""
    if settings.backend in LEARNED_BACKENDS:
        from napari_ifcell.core.segment.learned import load_segmenter

        return load_segmenter(settings.backend, settings.model, image_kind=settings.model_input)
    if not settings.backend.startswith("sam"):
        return None
    from napari_ifcell.core.segment.sam_model import load_sam

    sam = settings.sam
    return load_sam(_sam_checkpoint(settings), model_type=sam.model_type, device=sam.device)


def _sam_checkpoint(settings: SegmentSettings) -> str:
    sam = settings.sam
    if sam is None or sam.checkpoint in ("", ".", None):
        raise ValueError("the SAM backends need a checkpoint file (SAM weights are not downloaded)")
    return sam.checkpoint


def _tile_segmenter(reader: TileReader, settings: SegmentSettings, region, model):
    """``(segment(y, x, h, w) -> labels, the stain threshold used or None)``, for windows
    on the slide (see ``halo_window``)."""
    ps = reader.if_slide.require_pixel_size()
    if settings.backend in ("hoechst", "he"):
        ws = run_watershed_settings(reader, settings.backend, settings.watershed, region)

        def segment(y, x, h, w):
            if settings.backend == "hoechst":
                hoechst = reader.signal("hoechst", y, x, h, w)
                edges = slide_edges_of((y, x, h, w), reader.if_slide.shape)
                return watershed_nuclei(
                    hoechst, pixel_size_um=ps, settings=ws, zero_is_no_image=True, slide_edges=edges
                )
            # Read on the IF grid, the H&E can end in a few px of white fill at the slide's edge
            # (the registration offset): extended outwards, that zero hematoxylin would become
            # the background floor beside the edge. Mirrored, it stays a thin dip.
            rgb = reader.he(y, x, h, w)  # its bare glass is no tissue
            return watershed_nuclei(
                stain_signal(rgb, "he"), pixel_size_um=ps, settings=ws, rgb=rgb, slide_edges=NO_EDGES
            )

        return segment, ws.threshold
    if settings.backend in LEARNED_BACKENDS:
        read = reader.he if settings.model_input == "he" else reader.hoechst
        return (lambda y, x, h, w: model(read(y, x, h, w), ps)), None
    from napari_ifcell.core.segment.sam_masks import SamSettings, sam_nuclei

    sam_settings = settings.sam or SamSettings()
    seeded = settings.backend == "sam-if-seeded"
    seed_threshold = estimate_threshold(reader, "hoechst", region) if seeded else None
    um = sam_settings.um_per_px

    f = ps / um  # SAM pixels per slide pixel
    at = None if abs(f - 1) < 0.01 else um  # a slide at SAM's resolution is read as it is

    def segment(y, x, h, w):
        window = (y, x, h, w)  # on the slide's grid, where the labels go back
        if at is not None:
            y, x, h, w = round(y * f), round(x * f), max(1, round(h * f)), max(1, round(w * f))
        he = reader.he(y, x, h, w, um_per_px=at)
        hoechst = reader.hoechst(y, x, h, w, um_per_px=at) if seeded else None
        labels = sam_nuclei(
            model, he, pixel_size_um=um, settings=sam_settings, hoechst=hoechst, seed_threshold=seed_threshold
        )
        return labels if at is None else on_grid(labels, window, (y, x), f)

    return segment, seed_threshold


def on_grid(labels: np.ndarray, window, origin, factor: float) -> np.ndarray:
    """Labels made on a coarser or finer grid, taken back (nearest) onto a slide ``window``
    ``(y, x, h, w)``. ``labels[0, 0]`` is pixel ``origin`` of a grid with ``factor`` of its
    pixels per slide pixel, laid over the same corner (as ``read_resampled`` reads): each slide
    pixel takes the label under its centre. A resize of the window instead stretched it by the
    rounding of its origin and size, up to half a coarse pixel off, differently in each tile."""
    y, x, h, w = window
    rows = np.floor((y + np.arange(h) + 0.5) * factor).astype(np.int64) - origin[0]
    cols = np.floor((x + np.arange(w) + 0.5) * factor).astype(np.int64) - origin[1]
    rows, cols = np.clip(rows, 0, labels.shape[0] - 1), np.clip(cols, 0, labels.shape[1] - 1)
    return labels[np.ix_(rows, cols)]


def _settings_dict(settings: SegmentSettings) -> dict:
    out = asdict(settings) if settings.sam is None else {**asdict(settings), "sam": asdict(settings.sam)}
    return out
