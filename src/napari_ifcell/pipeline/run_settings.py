"""The settings of a headless run, from a YAML/JSON file: the same dataclasses the widgets use.

```yaml
segmentation: {backend: hoechst, tile: 512, halo: 48, watershed: {sigma_um: 0.33}, sam: {checkpoint: sam_vit_h.pth}}
quantification: {expand_um: 1.625, statistics: [mean, std]}
gates: gates.yaml          # optional; relative to this file
classifier: model/         # optional: an H&E classifier folder (napari-ifcell train)
```
Paths (a SAM checkpoint, a learned model's file such as ``segmentation: {backend: custom,
model: my_model.py:nuclei}``, gates, classifier) are relative to this file.
Every problem in the file is reported at once, before any work starts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from napari_ifcell.core.quantify.cells import QuantifySettings
from napari_ifcell.core.segment.learned import LEARNED_BACKENDS, ModelError, names_a_file, split_spec
from napari_ifcell.core.segment.sam_masks import SamSettings
from napari_ifcell.core.segment.watershed import WatershedSettings
from napari_ifcell.core.settings import settings_from_mapping
from napari_ifcell.pipeline.segment import SegmentSettings

SECTIONS = ("segmentation", "quantification", "gates", "classifier")


class RunSettingsError(ValueError):
    def __init__(self, path, problems: list[str]):
        self.problems = problems
        super().__init__(f"{path}: {len(problems)} problem(s) in the run settings:\n  - " + "\n  - ".join(problems))


@dataclass(frozen=True)
class RunSettings:
    segmentation: SegmentSettings = field(default_factory=SegmentSettings)
    quantification: QuantifySettings = field(default_factory=QuantifySettings)
    gates: str | None = None  # gate file (absolute)
    classifier: str | None = None  # model folder (absolute): predictions added to the table


def load_run_settings(path: str | Path) -> RunSettings:
    path = Path(path)
    if not path.is_file():
        raise RunSettingsError(path, ["no such file"])
    if path.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise RunSettingsError(path, ["expected a run settings file in YAML (.yaml, .yml) or JSON (.json)"])
    try:
        from napari_ifcell.io.safe_yaml import load_json, load_yaml

        text = path.read_text(encoding="utf-8")
        doc = load_json(text) if path.suffix.lower() == ".json" else load_yaml(text)
    except Exception as exc:
        raise RunSettingsError(path, [f"not valid {path.suffix.lstrip('.').upper() or 'YAML'}: {exc}"]) from exc
    if doc is None:  # an empty YAML file
        from napari_ifcell.notes import note

        note(f"{path}: empty; every setting at its default")
        doc = {}
    problems: list[str] = []
    if not isinstance(doc, dict):
        raise RunSettingsError(path, ["expected a mapping with segmentation / quantification / gates"])
    unknown = sorted(set(doc) - set(SECTIONS))
    if unknown:
        problems.append(f"unknown section(s) {', '.join(unknown)}; known: {', '.join(SECTIONS)}")
    seg_doc = doc.get("segmentation") or {}
    if not isinstance(seg_doc, dict):
        problems.append(f"segmentation: expected a mapping, got {type(seg_doc).__name__}")
        seg_doc = {}
    seg_doc = dict(seg_doc)
    watershed = settings_from_mapping(
        WatershedSettings, seg_doc.pop("watershed", None), "segmentation.watershed", problems
    )
    sam = settings_from_mapping(SamSettings, seg_doc.pop("sam", None), "segmentation.sam", problems)
    segmentation = settings_from_mapping(
        SegmentSettings,
        {**seg_doc, **({"watershed": watershed} if watershed else {}), **({"sam": sam} if sam else {})},
        "segmentation",
        problems,
    )
    if segmentation is not None:
        problems += [f"segmentation: {p}" for p in segmentation.problems()]
        if segmentation.backend.startswith("sam"):
            checkpoint = sam.checkpoint if sam else None
            if not checkpoint:
                problems.append("segmentation.sam.checkpoint: the SAM backends need a checkpoint path")
            elif not _resolve(path, checkpoint).is_file():
                problems.append(f"segmentation.sam.checkpoint: no such file {_resolve(path, checkpoint)}")
            elif sam:
                segmentation = dataclasses.replace(
                    segmentation, sam=dataclasses.replace(sam, checkpoint=str(_resolve(path, checkpoint)))
                )
        if segmentation.model and segmentation.backend in LEARNED_BACKENDS:
            segmentation = dataclasses.replace(segmentation, model=_model_setting(segmentation, path, problems))
    quantification = settings_from_mapping(QuantifySettings, doc.get("quantification"), "quantification", problems)
    if quantification is not None and "median" in quantification.statistics:
        problems.append(
            "quantification.statistics: a whole-slide run adds each cell's sums up over the tiles it spans, "
            "which gives means and standard deviations but not medians; use the quantify command for medians"
        )
    gates = _path_setting(doc, "gates", "a gate file", path, problems)
    if gates is not None:
        from napari_ifcell.io.gate_file import load_gates

        try:
            load_gates(gates)
        except (ValueError, OSError) as exc:
            problems.append(f"gates: {exc}")
    classifier = _path_setting(doc, "classifier", "a model folder", path, problems)
    if classifier is not None and not all((Path(classifier) / f).is_file() for f in ("config.json", "weights.pt")):
        problems.append(f"classifier: {classifier} is not a saved classifier (config.json + weights.pt)")
    if problems:
        raise RunSettingsError(path, problems)
    return RunSettings(segmentation, quantification, gates, classifier)


def _path_setting(doc: dict, key: str, what: str, settings_path: Path, problems: list[str]) -> str | None:
    """An optional path in the settings, resolved against the settings file's folder."""
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        problems.append(f"{key}: expected the path of {what}, got {value!r}")
        return None
    return str(_resolve(settings_path, value))


def _model_setting(segmentation: SegmentSettings, settings_path: Path, problems: list[str]) -> str:
    """The learned backend's model with a file in it resolved against the settings file's folder
    and checked to exist, so a run stops before any work (and workers elsewhere find it)."""
    model = segmentation.model
    if segmentation.backend == "custom":
        try:
            module, function = split_spec(model)
        except ModelError as exc:
            problems.append(f"segmentation.{exc}")
            return model
        if not module.endswith(".py"):  # a module may be installed on the workers only: they import it
            return model
        resolved = _resolve(settings_path, module)
        if not resolved.is_file():
            problems.append(f"segmentation.model: no such Python file {resolved} (from {model!r})")
        return f"{resolved}:{function}"
    resolved = _resolve(settings_path, model)
    if resolved.is_file():
        return str(resolved)
    if names_a_file(model):
        problems.append(f"segmentation.model: no such {segmentation.backend} model file {resolved}")
    return model  # a model name the library fetches on first use


def _resolve(settings_path: Path, value: str) -> Path:
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else (settings_path.parent / candidate).resolve()
