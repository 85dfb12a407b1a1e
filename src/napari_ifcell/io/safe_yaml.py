"""YAML and JSON for files people give us (gate files, run settings): plain data only, no aliases.

``yaml.safe_load`` never runs code, but it does expand aliases: a few hundred bytes of nested
``*refs`` become gigabytes once expanded (and again when an error message formats them).
Our files never need an alias, so a document with one is refused, as is a file of more
than :data:`MAX_BYTES`. A key given twice in one mapping is refused too: YAML keeps the
last silently, so a gate copied and edited lower down would quietly replace the first;
:func:`load_json` refuses a repeated key in the same way.
"""

from __future__ import annotations

import json

import yaml

MAX_BYTES = 4 * 1024 * 1024  # far above any gate or settings file


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not accepted in this file; write the values out", mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value if isinstance(node, yaml.MappingNode) else ():
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)):
                continue
            if (type(key), key) in seen:  # by type too: 1 and true are equal in Python, not in YAML
                first = seen[type(key), key] + 1
                message = f"{key!r} is given twice (first at line {first}); give each key once"
                raise yaml.constructor.ConstructorError(None, None, message, key_node.start_mark)
            seen[type(key), key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def _refuse_huge(text: str) -> None:
    if len(text) > MAX_BYTES:
        raise ValueError(f"{len(text):,} characters; a gate or settings file is at most {MAX_BYTES:,}")


def load_yaml(text: str):
    """The data of one YAML document (``None`` when empty); aliases and huge text refused."""
    _refuse_huge(text)
    return yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader that refuses aliases


def load_json(text: str):
    """The data of a JSON document; a key given twice in one object refused (``json`` keeps the last)."""
    _refuse_huge(text)
    return json.loads(text, object_pairs_hook=_each_key_once)


def _each_key_once(pairs) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"{key!r} is given twice in one object; give each key once")
        seen[key] = value
    return seen
