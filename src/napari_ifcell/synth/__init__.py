"""A seeded, Orion-like synthetic IF + H&E slide pair with known ground truth."""

from napari_ifcell.synth.slide_pair import SyntheticPair, build_scene, make_synthetic_pair

__all__ = ["SyntheticPair", "build_scene", "make_synthetic_pair"]
