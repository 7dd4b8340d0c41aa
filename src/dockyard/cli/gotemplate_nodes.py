"""The parse tree of a Go text/template as frozen dataclasses; no parsing or evaluation here.

`str(node)` renders a node the way Go's parse.Node.String() does, because execution errors quote it:
``executing "" at <.Foo.Bar>: …``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.cli.gotemplate_literals import go_quote


@dataclass(frozen=True, slots=True)
class TextNode:
    pos: int
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class DotNode:
    pos: int

    def __str__(self) -> str:
        return "."


@dataclass(frozen=True, slots=True)
class NilNode:
    pos: int

    def __str__(self) -> str:
        return "nil"


@dataclass(frozen=True, slots=True)
class BoolNode:
    pos: int
    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass(frozen=True, slots=True)
class NumberNode:
    """A numeric literal; `int_value` is set when the number is integral (Go's IsInt), `is_float` when its
    syntax makes it a float64 where no type is expected (Go's idealConstant)."""

    pos: int
    text: str
    int_value: int | None
    float_value: float | None
    is_float: bool

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class StringNode:
    pos: int
    quoted: str
    text: str

    def __str__(self) -> str:
        return self.quoted


@dataclass(frozen=True, slots=True)
class IdentifierNode:
    pos: int
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class VariableNode:
    """`$x` or `$x.Field.Sub`: ident[0] is the variable name, the rest are fields."""

    pos: int
    ident: tuple[str, ...]

    def __str__(self) -> str:
        return ".".join(self.ident)


@dataclass(frozen=True, slots=True)
class FieldNode:
    pos: int
    ident: tuple[str, ...]

    def __str__(self) -> str:
        return "".join("." + name for name in self.ident)


@dataclass(frozen=True, slots=True)
class ChainNode:
    """Fields applied to a non-field term, e.g. `(index . 0).Name`."""

    pos: int
    node: Node
    fields: tuple[str, ...]

    def __str__(self) -> str:
        head = f"({self.node})" if isinstance(self.node, PipeNode) else str(self.node)
        return head + "".join("." + name for name in self.fields)


@dataclass(frozen=True, slots=True)
class CommandNode:
    pos: int
    args: tuple[Node, ...]

    def __str__(self) -> str:
        return " ".join(f"({arg})" if isinstance(arg, PipeNode) else str(arg) for arg in self.args)


@dataclass(frozen=True, slots=True)
class PipeNode:
    pos: int
    line: int
    is_assign: bool
    decl: tuple[VariableNode, ...]
    cmds: tuple[CommandNode, ...]

    def __str__(self) -> str:
        head = ", ".join(str(v) for v in self.decl) + " := " if self.decl else ""
        return head + " | ".join(str(c) for c in self.cmds)


@dataclass(frozen=True, slots=True)
class ActionNode:
    pos: int
    line: int
    pipe: PipeNode

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


@dataclass(frozen=True, slots=True)
class ListNode:
    pos: int
    nodes: tuple[Node, ...]

    def __str__(self) -> str:
        return "".join(str(n) for n in self.nodes)


@dataclass(frozen=True, slots=True)
class BranchNode:
    """`if`, `range` or `with` (kind), with its optional else list."""

    kind: str
    pos: int
    line: int
    pipe: PipeNode
    body: ListNode
    else_body: ListNode | None

    def __str__(self) -> str:
        text = "{{" + self.kind + " " + str(self.pipe) + "}}" + str(self.body)
        if self.else_body is not None:
            text += "{{else}}" + str(self.else_body)
        return text + "{{end}}"


@dataclass(frozen=True, slots=True)
class TemplateNode:
    pos: int
    line: int
    name: str
    pipe: PipeNode | None

    def __str__(self) -> str:
        if self.pipe is None:
            return "{{template " + go_quote(self.name) + "}}"
        return "{{template " + go_quote(self.name) + " " + str(self.pipe) + "}}"


@dataclass(frozen=True, slots=True)
class LoopControlNode:
    """`{{break}}` or `{{continue}}` inside a range."""

    pos: int
    line: int
    kind: str

    def __str__(self) -> str:
        return "{{" + self.kind + "}}"


@dataclass(frozen=True, slots=True)
class EndNode:
    """Parser-internal: an `{{end}}` or `{{else}}` that closes a list (kind "end" or "else")."""

    pos: int
    line: int
    kind: str

    def __str__(self) -> str:
        return "{{" + self.kind + "}}"


Node = (
    TextNode
    | DotNode
    | NilNode
    | BoolNode
    | NumberNode
    | StringNode
    | IdentifierNode
    | VariableNode
    | FieldNode
    | ChainNode
    | CommandNode
    | PipeNode
    | ActionNode
    | ListNode
    | BranchNode
    | TemplateNode
    | LoopControlNode
    | EndNode
)
