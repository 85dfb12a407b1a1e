"""A slide's gates: one MarkerGate per marker, the marker hierarchy and the phenotype rules."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from napari_ifcell.core.gating.gates import GateError, MarkerGate
from napari_ifcell.core.gating.phenotypes import DEFAULT_PHENOTYPES, MARKER_ALIASES, PhenotypeRule

DEFAULT_HIERARCHY = {"CD3e": "CD45", "CD4": "CD3e", "CD8a": "CD3e", "FOXP3": "CD4"}


@dataclass
class GateSet:
    """The gates of one slide, the marker hierarchy and the phenotype rules."""

    gates: dict[str, MarkerGate] = field(default_factory=dict)
    hierarchy: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_HIERARCHY))
    phenotypes: list | None = None  # None: the default rules (Immunocto's classes + regulatory T)
    slide: str = ""

    def __post_init__(self):
        if self.phenotypes is None:
            self.phenotypes = list(DEFAULT_PHENOTYPES)

    def problems(self, columns=None) -> list[str]:
        """Every problem, not just the first: thresholds, names, hierarchy, rules."""
        out = []
        for name, gate in self.gates.items():
            if name != gate.marker:
                out.append(f"gate stored under {name!r} is for marker {gate.marker!r}")
            out.extend(gate.problems())
            if columns is not None and gate.column not in columns:
                out.append(f"{gate.marker}: unknown marker, no column {gate.column!r} in the cell table")
        for child, parent in self.hierarchy.items():
            for marker in (child, parent):
                if marker not in self.gates:
                    out.append(f"hierarchy {child} -> {parent}: no gate for {marker}")
        out.extend(_cycles(self.hierarchy))
        assert self.phenotypes is not None  # None is replaced by the default rules in __post_init__
        for rule in self.phenotypes:
            out.extend(rule.problems(self.gates))
        return out

    def validate(self, columns=None, *, path=None) -> GateSet:
        problems = self.problems(columns)
        if problems:
            raise GateError(problems, path)
        return self


def with_default_rules(gates: dict[str, MarkerGate], *, slide: str = "", missing: str) -> GateSet:
    """The gates with the default hierarchy and phenotype rules kept where their markers have gates.

    Other panels than Orion's work: a rule whose defining markers (all positive, or one of
    several) have gates is kept without the exclusions the panel cannot test (CD8 T without
    CD4-), and a note says so; a rule without them is left out, and a note names it.
    ``missing`` (formatted with ``markers``) says why markers have no gate.
    """
    from napari_ifcell.notes import note

    named = panel_names(gates)
    if named:
        note("default rules on this panel's names: " + ", ".join(f"{o} for {d}" for d, o in named.items()))
    default_rules = [_renamed(rule, named) for rule in DEFAULT_PHENOTYPES]
    default_hierarchy = {named.get(c, c): named.get(p, p) for c, p in DEFAULT_HIERARCHY.items()}
    hierarchy = {c: p for c, p in default_hierarchy.items() if c in gates and p in gates}
    fitted = {r.name: _fitted_rule(r, gates) for r in default_rules}
    rules = [r for r in fitted.values() if r is not None]
    dropped = [r for r in default_rules if fitted[r.name] is None]
    loosened = [r for r in default_rules if fitted[r.name] not in (None, r)]
    links = [f"{c} -> {p}" for c, p in default_hierarchy.items() if c in gates and c not in hierarchy]
    if links:
        note(
            f"hierarchy link(s) {', '.join(links)} left out: {missing.format(markers=_absent_parents(gates, default_hierarchy))}"
        )
    if dropped:
        absent = ", ".join(sorted({m for r in dropped for m in r.markers if m not in gates}))
        note(
            f"phenotype(s) {', '.join(r.name for r in dropped)} left out: {missing.format(markers=absent)}; "
            "such cells are called 'other'"
        )
    if loosened:
        untested = "; ".join(_untested(rule, gates) for rule in loosened)
        note(f"phenotype(s) called with what this panel measures: {untested}")
    return GateSet(gates=dict(gates), hierarchy=hierarchy, phenotypes=rules, slide=slide)


def panel_names(markers) -> dict[str, str]:
    """Default-rule marker -> the panel's own name for it, where the panel has no marker of the
    default name but one of its aliases (``CD3`` for ``CD3e``; case and dashes ignored)."""
    key = {_plain(m): m for m in markers}
    out = {}
    for default, aliases in MARKER_ALIASES.items():
        if default in markers:
            continue
        found = next((key[_plain(a)] for a in (default, *aliases) if _plain(a) in key), None)
        if found is not None:
            out[default] = found
    return out


def _plain(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name).lower()


def _renamed(rule: PhenotypeRule, named: dict[str, str]) -> PhenotypeRule:
    def rename(markers: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(named.get(m, m) for m in markers)

    return replace(
        rule, pos=rename(rule.pos), neg=rename(rule.neg), anypos=rename(rule.anypos), anyneg=rename(rule.anyneg)
    )


def _untested(rule: PhenotypeRule, gates) -> str:
    """What a loosened rule no longer tests, in words: "CD8 T: CD4- not tested"."""
    parts = [f"{m}-" for m in rule.neg if m not in gates]
    parts += [f"{m}+" for m in rule.anypos if m not in gates]
    parts += [f"{m}-" for m in rule.anyneg if m not in gates]
    return f"{rule.name}: {', '.join(parts)} not tested (no gate)"


def _fitted_rule(rule: PhenotypeRule, gates) -> PhenotypeRule | None:
    """The rule on the markers that have gates; None when what defines the class is missing
    (a ``pos`` marker, or every ``anypos`` one)."""
    if any(m not in gates for m in rule.pos) or (rule.anypos and not any(m in gates for m in rule.anypos)):
        return None

    def present(markers: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(m for m in markers if m in gates)

    fitted = replace(rule, neg=present(rule.neg), anypos=present(rule.anypos), anyneg=present(rule.anyneg))
    return fitted if fitted.markers else None


def _absent_parents(gates, hierarchy: dict[str, str]) -> str:
    return ", ".join(sorted({p for c, p in hierarchy.items() if c in gates and p not in gates}))


def _cycles(hierarchy: dict[str, str]) -> list[str]:
    out = []
    for start in hierarchy:
        seen, node = [start], hierarchy[start]
        while node in hierarchy:
            if node in seen:
                out.append(f"hierarchy has a cycle: {' -> '.join([*seen, node])}")
                break
            seen.append(node)
            node = hierarchy[node]
    return sorted(set(out))
