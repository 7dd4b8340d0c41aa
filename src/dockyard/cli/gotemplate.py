"""Go text/template for the CLI's `--format` and `inspect -f`, with docker's functions and error wording.

    parse(text) -> Template            # syntax errors raise TemplateError now
    Template.execute(data) -> str      # data: Docker JSON (dicts, lists, scalars) or objects with attributes
    render(text, data) -> str          # both at once

The work is split by stage: gotemplate_lex (tokens), gotemplate_parse (tree), gotemplate_exec (evaluation),
gotemplate_funcs (builtin and docker functions), gotemplate_values / gotemplate_printf (Go's fmt and json),
gotemplate_types (docker's Go structs for `inspect -f`) and gotemplate_typed (the typed Go values they build).
This module only ties them together; it does no terminal output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from dockyard.cli.gotemplate_exec import Executor
from dockyard.cli.gotemplate_funcs import BUILTINS, HEADER_FUNCTIONS, Function
from dockyard.cli.gotemplate_lex import TemplateFailure
from dockyard.cli.gotemplate_parse import Tree, parse_tree
from dockyard.cli.gotemplate_values import MISSING
from dockyard.cli.template_error import TemplateError

__all__ = ["HEADER_FUNCTIONS", "MISSING", "Function", "MissingKey", "Template", "TemplateError", "parse", "render"]

MissingKey = Literal["default", "error"]


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template; execute it any number of times."""

    text: str
    tree: Tree
    functions: Mapping[str, Function] | None = None  # the caller's own (docker's Funcs), given to parse

    def execute(
        self,
        data: object,
        *,
        missing_key: MissingKey = "default",
        functions: Mapping[str, Function] | None = None,
    ) -> str:
        """Render over `data`. A missing map key prints `<no value>`; with missing_key="error" it fails as Go's
        `missingkey=error` (docker inspect's fallback over raw JSON). `functions` override builtins by name."""
        if self.functions:
            functions = {**self.functions, **(functions or {})}
        table = {**BUILTINS, **functions} if functions else BUILTINS
        executor = Executor(self.tree, table, missing_key_error=missing_key == "error")
        try:
            return executor.run(data)
        except TemplateFailure as err:
            raise TemplateError(err.message, partial=err.partial) from err

    def execute_inspect(self, doc: object) -> str:
        """Render an inspect document as `docker inspect -f` does: over docker's Go types first
        (gotemplate_types), and if that fails, over the raw JSON with missingkey=error, whose error is the one
        reported."""
        from dockyard.cli.gotemplate_types import inspect_view, json_numbers

        view, fallback = inspect_view(doc)
        if view is not None:
            try:
                return self.execute(view)
            except TemplateError:
                if not fallback:
                    raise
        return self.execute(json_numbers(doc), missing_key="error")


def parse(text: str, functions: Mapping[str, Function] | None = None) -> Template:
    """Parse a Go template; TemplateError with Go's message on bad syntax or an unknown function. `functions`
    adds the caller's own (as docker's `Funcs`, e.g. version's getDetailsOrder)."""
    names = {**BUILTINS, **functions}.keys() if functions else BUILTINS.keys()
    try:
        return Template(text, parse_tree(text, names), functions)
    except TemplateFailure as err:
        raise TemplateError(err.message) from err


def render(text: str, data: object) -> str:
    return parse(text).execute(data)
