"""Named regions as a napari Shapes layer, and back (level-0 pixels of the IF grid)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from napari_ifcell._napari.layers import PLUGIN_KEY
from napari_ifcell._napari.palette import REGION_COLOUR_ON_DARK, REGION_COLOUR_ON_LIGHT
from napari_ifcell.io.regions import Region

REGIONS_LAYER = "regions"
SET_ASIDE = "set-aside regions"  # the role of regions drawn on a slide no longer open


def find_regions_layer(viewer):
    """The viewer's regions layer, or None."""
    for layer in viewer.layers:
        if layer.metadata.get(PLUGIN_KEY, {}).get("role") == "regions":
            return layer
    return None


def regions_layer(viewer, pixel_size_um: float, slide: str | Path | None = None):
    """The viewer's regions layer, made (empty, named shapes) when there is none; ``slide``:
    the file of the slide they are drawn on (see :func:`regions_for_slide`)."""
    layer = find_regions_layer(viewer)
    if layer is not None:
        return layer
    colour = region_colour(viewer)
    layer = viewer.add_shapes(
        name=REGIONS_LAYER,
        scale=(pixel_size_um, pixel_size_um),
        units=("µm", "µm"),
        edge_color=colour,
        edge_width=4,
        face_color="transparent",
        features={"name": np.array([], dtype=object)},
        # in the middle of the region, over the tissue whose colour it is chosen for (above
        # a region at the slide's edge it stood on the dark canvas)
        text={"string": "{name}", "color": colour, "size": 12, "anchor": "center"},
        metadata={PLUGIN_KEY: {"role": "regions", "slide": None if slide is None else _file(slide)}},
    )
    shapes_seen = [len(layer.data)]

    def on_change(event) -> None:  # drawn or added: a data event; pasted: only a features event
        before, shapes_seen[0] = shapes_seen[0], len(layer.data)  # first: renaming raises an event
        if len(layer.data) > before:
            _name_drawn(layer, range(before, len(layer.data)))

    layer.events.data.connect(on_change)
    layer.events.features.connect(on_change)
    return layer


def _name_drawn(layer, added: range) -> None:
    """Regions just drawn or pasted (rows ``added``) show the name they will have in the report
    (``region N``), not "None" or their original's; names the user typed stay as they are."""
    if "name" not in layer.features:
        return
    names = layer.features["name"].tolist()
    # napari gives a new shape the last name set as its default, and a pasted one its original's:
    # a copy is no name of its own
    for i in added:
        if i < len(names) and names[i] in names[:i] + names[i + 1 :]:
            names[i] = None
    if any(not _named(n) for n in names):
        layer.features = {"name": np.array(region_names(names), dtype=object)}
        layer.refresh_text()


def _named(name) -> bool:
    return isinstance(name, str) and bool(name)


def region_names(names: list) -> list[str]:
    """Each region's name; an unnamed one (None, NaN, "") gets ``region N`` from its place,
    a number no other region's name has."""
    given = [n if _named(n) else None for n in names]
    taken, out = set(given), []
    for i, typed in enumerate(given):
        name, number = typed, i + 1
        while name is None or (name != typed and name in taken):
            name, number = f"region {number}", number + 1
        taken.add(name)
        out.append(name)
    return out


def regions_for_slide(viewer, slide: str | Path) -> str | None:
    """Make the regions layer the one of ``slide`` (a slide just opened). Regions drawn on
    another slide are set aside, hidden and renamed ``regions of <file>`` (an empty layer is
    removed): nothing a user drew is thrown away, and the ones set aside for ``slide`` come
    back, unsaved edits included. A layer made before any slide (by a script) is taken for
    ``slide``. Returns what was done, for a status line, or None."""
    slide, said = _file(slide), None
    layer = find_regions_layer(viewer)
    drawn_on = None if layer is None else layer.metadata[PLUGIN_KEY].get("slide")
    if layer is not None and drawn_on not in (None, slide):
        if len(layer.data):
            layer.metadata[PLUGIN_KEY]["role"] = SET_ASIDE
            layer.name, layer.visible = f"regions of {Path(drawn_on).name}", False
            said = f"the regions drawn on {Path(drawn_on).name} are kept, hidden, in layer {layer.name!r}"
        else:
            viewer.layers.remove(layer)
        layer = None
    if layer is None:
        kept = [
            x
            for x in viewer.layers
            if x.metadata.get(PLUGIN_KEY, {}).get("role") == SET_ASIDE and x.metadata[PLUGIN_KEY]["slide"] == slide
        ]
        if kept:
            layer = kept[-1]
            layer.metadata[PLUGIN_KEY]["role"] = "regions"
            layer.name, layer.visible = REGIONS_LAYER, True
    elif drawn_on is None:
        layer.metadata[PLUGIN_KEY]["slide"] = slide
    return said


def _file(path) -> str:
    """A slide's file as regions record it: resolved, so a relative or linked path is the same slide."""
    return str(Path(path).resolve())


def region_colour(viewer) -> str:
    """Dark outlines and names over a visible H&E (light: IF channels over it leave it light),
    light ones over IF alone (dark)."""
    visible = {layer.metadata.get(PLUGIN_KEY, {}).get("role") for layer in viewer.layers if layer.visible}
    return REGION_COLOUR_ON_LIGHT if "he" in visible else REGION_COLOUR_ON_DARK


def recolour_regions(layer, viewer) -> None:
    """Outlines and names readable on what is shown now (call when the background changes)."""
    colour = region_colour(viewer)
    layer.current_edge_color = colour
    if len(layer.data):
        layer.edge_color = colour
    layer.text.color = colour
    layer.refresh_text()


ELLIPSE_VERTICES = 64


def layer_regions(layer, pixel_size_um: float, *, lines_refused: bool = True) -> list[Region]:
    """The rectangles, polygons and ellipses (as 64-sided polygons) of a Shapes layer as named
    regions (an unnamed one gets ``region N``, a number no other region's name has); any layer
    scale is turned into level-0 pixels. A line or path, which holds no cells, is refused (or
    left out, where regions are optional)."""
    names = region_names(layer.features["name"].tolist() if "name" in layer.features else [None] * len(layer.data))
    regions = []
    for i, (vertices, kind) in enumerate(zip(layer.data, layer.shape_type)):
        if kind not in ("rectangle", "polygon", "ellipse"):
            if not lines_refused:
                continue
            raise ValueError(
                f"shape {i + 1} in the '{layer.name}' layer is a {kind}: regions are rectangles, polygons or "
                "ellipses (delete it, or draw it as a polygon)"
            )
        world = np.asarray([layer.data_to_world(v) for v in vertices])[:, -2:]
        if kind == "ellipse":  # napari keeps an ellipse as the four corners of its box
            centre, half_a, half_b = world.mean(0), (world[1] - world[0]) / 2, (world[3] - world[0]) / 2
            t = np.linspace(0, 2 * np.pi, ELLIPSE_VERTICES, endpoint=False)[:, None]
            world, kind = centre + np.cos(t) * half_a + np.sin(t) * half_b, "polygon"
        regions.append(Region(names[i], kind, world / pixel_size_um))
    return regions


def set_layer_regions(layer, regions: list[Region]) -> None:
    """Replace the layer's shapes with ``regions`` (the layer's data frame is level-0 px)."""
    layer.data = []
    for region in regions:
        layer.add(np.asarray(region.vertices, float), shape_type=region.kind)
    layer.features = {"name": np.array([r.name for r in regions], dtype=object)}
    layer.refresh_text()
