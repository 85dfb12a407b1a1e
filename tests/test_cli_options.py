"""CLI options come from the settings dataclasses: one place for every default."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace

from napari_ifcell.cli import build_parser
from napari_ifcell.cli.options import add_settings_options, settings_from_args
from napari_ifcell.core.classify.model import ClassifierConfig
from napari_ifcell.core.quantify.cells import QuantifySettings


@dataclass(frozen=True)
class Example:
    size: int = 7
    rate: float = 0.5
    names: tuple[str, ...] = ("a", "b")
    path: str | None = None
    fast: bool = False


def _parse(argv):
    parser = argparse.ArgumentParser()
    add_settings_options(parser, Example, only=("size", "rate", "names", "path", "fast"), flags={"rate": "--lr"})
    return parser.parse_args(argv)


def test_options_left_out_keep_the_settings_values():
    base = Example(size=3, names=("x",))
    assert settings_from_args(_parse([]), base) == base
    got = settings_from_args(_parse(["--size", "9", "--lr", "0.1", "--names", "p", "q", "--path", "f", "--fast"]), base)
    assert got == Example(size=9, rate=0.1, names=("p", "q"), path="f", fast=True)


def test_help_shows_the_dataclass_defaults():
    text = build_parser()._subparsers._group_actions[0].choices["quantify"].format_help()
    default = QuantifySettings()
    assert f"(default: {default.expand_um})" in text and f"(default: {default.tile})" in text


def test_train_keeps_the_data_sets_epochs_unless_told(tmp_path):
    """The CLI used to override the data set's config with an epochs default of its own."""
    args = build_parser().parse_args(["train", str(tmp_path), "--out", str(tmp_path / "m")])
    config = replace(ClassifierConfig(), epochs=3, learning_rate=0.01)
    assert settings_from_args(args, config) == config
    args = build_parser().parse_args(["train", str(tmp_path), "--out", "m", "--epochs", "5", "--lr", "0.2"])
    assert settings_from_args(args, config) == replace(config, epochs=5, learning_rate=0.2)


def test_a_library_warning_repeated_is_shown_once(monkeypatch, tmp_path):
    """The walk: a SpatialData export printed zarr's same warning 177 times (with its source
    line, 354 lines of stderr); Python shows a warning once per place, and so does the CLI."""
    import warnings

    from napari_ifcell.cli import main, slides

    def noisy(args):
        warnings.simplefilter("always")  # each one recorded, as the export's were
        for _ in range(177):
            warnings.warn(
                "zarr v3 autosharding will be the default in the next minor release.", UserWarning, stacklevel=1
            )
        warnings.warn("another warning", UserWarning, stacklevel=1)
        return 0

    shown = []
    monkeypatch.setattr(warnings, "showwarning", lambda message, *args, **kwargs: shown.append(str(message)))
    monkeypatch.setattr(slides, "_synth", noisy)
    assert main(["synth", str(tmp_path / "pair")]) == 0
    assert shown == ["zarr v3 autosharding will be the default in the next minor release.", "another warning"]
