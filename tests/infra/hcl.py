"""Terraform modules of infra/, parsed with python-hcl2 into plain dicts for structural tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

REPO_ROOT = Path(__file__).resolve().parents[2]
INFRA = REPO_ROOT / "infra"
MODULES = INFRA / "modules"


def clean(value: Any) -> Any:
    """Drop python-hcl2's metadata keys and the quotes it keeps around literal strings."""
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items() if not str(k).startswith("__")}
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@dataclass
class Module:
    """One Terraform module: its resources, data sources, variables, outputs, module calls, locals."""

    path: Path
    files: list[str] = field(default_factory=list)
    resources: dict[tuple[str, str], dict] = field(default_factory=dict)
    data: dict[tuple[str, str], dict] = field(default_factory=dict)
    variables: dict[str, dict] = field(default_factory=dict)
    outputs: dict[str, dict] = field(default_factory=dict)
    calls: dict[str, dict] = field(default_factory=dict)
    locals: dict[str, object] = field(default_factory=dict)
    text: str = ""

    def of_type(self, resource_type: str) -> dict[str, dict]:
        return {name: body for (t, name), body in self.resources.items() if t == resource_type}


def load(path: Path) -> Module:
    module = Module(path=path)
    for tf in sorted(path.glob("*.tf")):
        module.files.append(tf.name)
        module.text += tf.read_text()
        with open(tf) as handle:
            doc = clean(hcl2.load(handle))
        for kind, store in (("resource", module.resources), ("data", module.data)):
            for entry in doc.get(kind, []):
                for rtype, named in entry.items():
                    for name, body in named.items():
                        store[(rtype, name)] = body
        for entry in doc.get("variable", []):
            module.variables.update(entry)
        for entry in doc.get("output", []):
            module.outputs.update(entry)
        for entry in doc.get("module", []):
            module.calls.update(entry)
        for entry in doc.get("locals", []):
            module.locals.update(entry)
    return module


def all_modules() -> dict[str, Module]:
    """The root module and every module under infra/modules, by name ("root" for infra/)."""
    found = {"root": load(INFRA)}
    for folder in sorted(p for p in MODULES.iterdir() if p.is_dir()):
        found[folder.name] = load(folder)
    return found


def block(body: dict, name: str) -> dict:
    """The single nested block ``name`` of a resource body."""
    blocks = body.get(name)
    assert isinstance(blocks, list) and len(blocks) == 1, f"expected one {name} block, got {blocks!r}"
    return blocks[0]
