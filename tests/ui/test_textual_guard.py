"""Only edgetui/ui/_textual.py touches Textual's and Rich's internals: no other module of the app imports a private
module of theirs, overrides or reads a private member of their classes, or reads one of their private attributes."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from functools import cache
from pathlib import Path

import rich
import textual

import edgetui

ROOT = Path(edgetui.__file__).parent
ALLOWED = {ROOT / "ui" / "_textual.py"}  # the one place
TOOLKITS = ("textual", "rich")
_SELF_ATTRIBUTE = re.compile(r"\bself\.(_[a-z]\w*)")
_DEFINED = re.compile(r"(?:\bself\.|\bdef |^\s+)(_[a-z]\w*)\b", re.MULTILINE)


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _toolkit(module: str) -> bool:
    return module.split(".")[0] in TOOLKITS


@cache
def toolkit_private_names() -> frozenset[str]:
    """Every private name Textual and Rich define (methods, attributes, class attributes)."""
    names: set[str] = set()
    for package in (textual, rich):
        for path in Path(package.__file__).parent.rglob("*.py"):
            names.update(_DEFINED.findall(path.read_text(encoding="utf-8")))
    return frozenset(names)


@cache
def _members_of(cls: type) -> frozenset[str]:
    """The private members a Textual or Rich class has: in its namespace, or set on its instances in its source."""
    names = {name for name in vars(cls) if _is_private(name)}
    try:
        names.update(_SELF_ATTRIBUTE.findall(inspect.getsource(cls)))
    except (OSError, TypeError):
        pass
    return frozenset(names)


def _toolkit_member(cls: type, name: str) -> str | None:
    """The Textual or Rich class in `cls`'s ancestry that `name` belongs to (None: it is edgetui's own)."""
    for base in cls.__mro__[1:] if cls.__module__.startswith("edgetui") else cls.__mro__:
        if base.__module__.startswith("edgetui"):
            if name in vars(base):  # edgetui's own, defined further up (before any toolkit class)
                return None
            continue
        if _toolkit(base.__module__) and name in _members_of(base):
            return f"{base.__module__}.{base.__qualname__}"
    return None


def _edgetui_names() -> frozenset[str]:
    """Private names edgetui gives its own objects (outside the one place): reading them is not reaching in."""
    names: set[str] = set()
    for path in _modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _is_private(node.name):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and _is_private(node.attr):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and _is_private(node.id):
                names.add(node.id)
    return frozenset(names)


def _modules() -> list[Path]:
    return sorted(path for path in ROOT.rglob("*.py") if path not in ALLOWED)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _private_imports(tree: ast.Module) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for module in modules:
            if _toolkit(module) and any(_is_private(part) for part in module.split(".")):
                found.append((node.lineno, f"imports {module}"))
    return found


def _other_modules(tree: ast.Module) -> set[str]:
    """Names bound to modules that are not Textual's or Rich's (`os._exit` is not ours to judge)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names if not _toolkit(alias.name))
    return names


def _class_uses(tree: ast.Module, module: object) -> list[tuple[int, str]]:
    """Private members of a Textual or Rich base that a class of `module` overrides, or reads through self/super()."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        cls = getattr(module, node.name, None)
        if not isinstance(cls, type) or not any(_toolkit(base.__module__) for base in cls.__mro__):
            continue
        for item in node.body:  # overrides (methods, properties, class attributes)
            names = []
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                names = [item.name]
            elif isinstance(item, ast.Assign):
                names = [t.id for t in item.targets if isinstance(t, ast.Name)]
            elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                names = [item.target.id]
            for name in names:
                owner = _toolkit_member(cls, name) if _is_private(name) else None
                if owner:
                    found.append((item.lineno, f"{node.name} overrides {owner}.{name}"))
        for sub in ast.walk(node):
            if not (isinstance(sub, ast.Attribute) and _is_private(sub.attr)):
                continue
            value = sub.value
            through_self = isinstance(value, ast.Name) and value.id in ("self", "cls")
            through_super = isinstance(value, ast.Call) and getattr(value.func, "id", "") == "super"
            if through_self or through_super:
                owner = _toolkit_member(cls, sub.attr)
                if owner:
                    found.append((sub.lineno, f"{node.name} uses {owner}.{sub.attr}"))
    return found


def _attribute_reads(tree: ast.Module, own: frozenset[str]) -> list[tuple[int, str]]:
    """`something._name` where `_name` is a private name of Textual's or Rich's that edgetui does not define."""
    toolkit, modules = toolkit_private_names(), _other_modules(tree)
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and _is_private(node.attr)):
            continue
        value = node.value
        if isinstance(value, ast.Name) and value.id in ("self", "cls") or isinstance(value, ast.Call):
            continue  # (self and super(): checked against the class's own ancestry)
        if isinstance(value, ast.Name) and value.id in modules:
            continue
        if node.attr in toolkit and node.attr not in own:
            found.append((node.lineno, f"reads {ast.unparse(node)}"))
    return found


def offenders() -> list[str]:
    own = _edgetui_names()
    found = []
    for path in _modules():
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        uses = _private_imports(tree)
        if any(_toolkit(name) for name in re.findall(r"^\s*(?:from|import) ([\w.]+)", source, re.MULTILINE)):
            module = importlib.import_module(_module_name(path))
            uses += _class_uses(tree, module) + _attribute_reads(tree, own)
        found += [f"{path.relative_to(ROOT.parent)}:{line}: {what}" for line, what in sorted(set(uses))]
    return found


def test_only_the_one_module_touches_textual_internals() -> None:
    found = offenders()
    assert not found, "Textual/Rich internals outside edgetui/ui/_textual.py:\n" + "\n".join(found)


def test_the_guard_sees_each_kind_of_use(tmp_path: Path) -> None:
    """The checks themselves: a private import, an override, a read through self and one through another object."""
    tree = ast.parse("from textual._compositor import LayoutUpdate\nimport rich._wrap\nfrom textual import content\n")
    assert [what for _, what in _private_imports(tree)] == [
        "imports textual._compositor",
        "imports textual._compositor.LayoutUpdate",
        "imports rich._wrap",
    ]
    source = (
        "import os\n"
        "from textual.widget import Widget\n"
        "class Tail(Widget):\n"
        "    def _size_updated(self, size, virtual_size, container_size, layout=True):\n"
        "        return super()._size_updated(size, virtual_size, container_size, layout)\n"
        "    def _mine(self):\n"
        "        self._own = 1\n"
        "        return self._layout_required, other._repaint_regions, os._exit, self._own\n"
    )
    namespace: dict = {"__name__": "edgetui.fake"}
    exec(compile(source, "fake.py", "exec"), namespace)
    module = type("Module", (), namespace)
    tree = ast.parse(source)
    uses = sorted(what for _, what in _class_uses(tree, module))
    assert uses == [
        "Tail overrides textual.widget.Widget._size_updated",
        "Tail uses textual.widget.Widget._layout_required",
        "Tail uses textual.widget.Widget._size_updated",
    ]
    assert [what for _, what in _attribute_reads(tree, frozenset({"_own", "_mine"}))] == [
        "reads other._repaint_regions"
    ]
