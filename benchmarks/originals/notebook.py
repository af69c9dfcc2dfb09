"""Load model definitions from the originals' notebooks and scripts without running them.

The notebooks (CS772, ACIT4630, SEmoR) mix model classes with data loading, training loops and
Colab calls; the scripts (Williams) read data at import. Only the definitions are wanted, so each
cell / file is parsed with `ast` and just its class and function definitions are executed, in
order, into one namespace the caller seeds with the imports they need (torch, nn, F, keras ...).
Later definitions replace earlier ones of the same name, as running the notebook top-down would.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Callable, Iterable, Optional


def code_cells(path: str | Path) -> list[str]:
  """Sources of a notebook's code cells, in order."""
  nb = json.loads(Path(path).read_text(encoding="utf-8"))
  out = []
  for cell in nb.get("cells", []):
    if cell.get("cell_type") == "code":
      src = cell.get("source", "")
      out.append("".join(src) if isinstance(src, list) else src)
  return out


def _parse(source: str) -> Optional[ast.Module]:
  # IPython magics and shell escapes are not Python; the definitions never need them.
  lines = ["" if line.lstrip().startswith(("!", "%")) else line for line in source.splitlines()]
  try:
    return ast.parse("\n".join(lines))
  except SyntaxError:
    return None


def is_module_class(node: ast.AST) -> bool:
  """`class X(nn.Module)` / `class X(Module)` / `class X(torch.nn.Module)`: a PyTorch model class."""
  return isinstance(node, ast.ClassDef) and any(ast.unparse(b).split(".")[-1] == "Module" for b in node.bases)


def select(tree: ast.Module, functions: Iterable[str] = (), classes: Callable[[ast.AST], bool] = is_module_class):
  """The top-level definitions of one parsed cell/file worth executing."""
  wanted = set(functions)
  return [n for n in tree.body if classes(n) or (isinstance(n, ast.FunctionDef) and n.name in wanted)]


def definitions(sources: Iterable[str], functions: Iterable[str] = (),
                classes: Callable[[ast.AST], bool] = is_module_class) -> list[ast.stmt]:
  """Every selected definition of the given sources, in order (unparsable cells are skipped)."""
  functions = tuple(functions)
  nodes: list[ast.stmt] = []
  for source in sources:
    tree = _parse(source)
    if tree is not None:
      nodes.extend(select(tree, functions, classes))
  return nodes


def exec_definitions(nodes: list[ast.stmt], namespace: dict, filename: str) -> dict:
  """Executes definitions into `namespace` (which holds their imports) and returns it."""
  module = ast.Module(body=nodes, type_ignores=[])
  exec(compile(module, filename, "exec"), namespace)  # noqa: S102 - the point: the original's definitions
  return namespace


def load_notebook(path: str | Path, namespace: dict, functions: Iterable[str] = ()) -> dict:
  """The notebook's nn.Module classes (and the named functions) executed into `namespace`."""
  return exec_definitions(definitions(code_cells(path), functions), namespace, str(path))


def load_script(path: str | Path, namespace: dict, functions: Iterable[str]) -> dict:
  """The named functions (and nn.Module classes) of a .py file, without its imports or top-level code."""
  source = Path(path).read_text(encoding="utf-8")
  return exec_definitions(definitions([source], functions), namespace, str(path))
