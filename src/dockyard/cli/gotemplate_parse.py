"""Parser for Go's text/template: tokens → a tree of frozen nodes plus the `define`d templates; no evaluation.

The grammar and the error texts follow Go's text/template/parse/parse.go, so a bad `--format` fails with the
message the docker CLI prints (``template: :1: function "foo" not defined``).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import NoReturn

from dockyard.cli import gotemplate_nodes as n
from dockyard.cli.gotemplate_lex import TemplateFailure, Tok, Token, tokenize
from dockyard.cli.gotemplate_literals import go_quote, go_unquote, looks_float, parse_int, parse_uint


@dataclass(frozen=True, slots=True)
class Tree:
    """A parsed template: the main body and the templates it defines (by name)."""

    text: str
    root: n.ListNode
    defined: dict[str, n.ListNode]


_OPERAND_START = frozenset(
    {Tok.BOOL, Tok.CHAR_CONSTANT, Tok.DOT, Tok.FIELD, Tok.IDENTIFIER, Tok.NUMBER, Tok.NIL}
    | {Tok.RAW_STRING, Tok.STRING, Tok.VARIABLE, Tok.LEFT_PAREN}
)
_NOT_EXECUTABLE = (n.BoolNode, n.DotNode, n.NilNode, n.NumberNode, n.StringNode)


class Parser:
    def __init__(self, text: str, functions: Collection[str]) -> None:
        self.text = text
        self.functions = functions
        self.tokens = tokenize(text)
        self.index = 0
        self.seen = 0  # highest token index fetched: Go reports errors at the line of its latest token
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.action_line = 0
        self.defined: dict[str, n.ListNode] = {}

    # -- token stream --------------------------------------------------------------------------------------

    def next(self) -> Token:
        token = self.tokens[min(self.index, len(self.tokens) - 1)]
        self.seen = max(self.seen, self.index)
        self.index += 1
        return token

    def backup(self, count: int = 1) -> None:
        self.index -= count

    def peek(self) -> Token:
        token = self.next()
        self.backup()
        return token

    def next_non_space(self) -> Token:
        token = self.next()
        while token.typ is Tok.SPACE:
            token = self.next()
        return token

    def peek_non_space(self) -> Token:
        token = self.next_non_space()
        self.backup()
        return token

    def expect(self, typ: Tok, context: str) -> Token:
        token = self.next_non_space()
        if token.typ is not typ:
            self.unexpected(token, context)
        return token

    # -- errors --------------------------------------------------------------------------------------------

    def error(self, message: str) -> TemplateFailure:
        line = self.tokens[min(self.seen, len(self.tokens) - 1)].line
        return TemplateFailure(f"template: :{line}: {message}")

    def unexpected(self, token: Token, context: str) -> NoReturn:
        if token.typ is Tok.ERROR:
            extra = ""
            if self.action_line and self.action_line != token.line:
                extra = f" in action started at :{self.action_line}"
                if token.val.endswith(" action"):
                    extra = extra[len(" in action") :]
            raise self.error(f"{token}{extra}")
        raise self.error(f"unexpected {token} in {context}")

    # -- top level -----------------------------------------------------------------------------------------

    def parse(self) -> Tree:
        nodes: list[n.Node] = []
        start = self.peek().pos
        while self.peek().typ is not Tok.EOF:
            if self.peek().typ is Tok.LEFT_DELIM:
                self.next()
                if self.next_non_space().typ is Tok.DEFINE:
                    self.parse_definition()
                    continue
                self.index = self._rewind_to_delim()
            node = self.text_or_action()
            if isinstance(node, n.EndNode):
                raise self.error(f"unexpected {node}")
            nodes.append(node)
        root = n.ListNode(start, tuple(nodes))
        self._add("", root)
        return Tree(self.text, root, self.defined)

    def _rewind_to_delim(self) -> int:
        index = self.index - 1
        while self.tokens[index].typ is not Tok.LEFT_DELIM:
            index -= 1
        return index

    def parse_definition(self) -> None:
        context = "define clause"
        token = self.next_non_space()
        if token.typ not in (Tok.STRING, Tok.RAW_STRING):
            self.unexpected(token, context)
        name = self.unquote(token)
        self.expect(Tok.RIGHT_DELIM, context)
        saved, self.vars = self.vars, ["$"]
        body, end = self.item_list()
        self.vars = saved
        if end.kind != "end":
            raise self.error(f"unexpected {end} in {context}")
        self._add(name, body)

    def _add(self, name: str, body: n.ListNode) -> None:
        existing = self.defined.get(name)
        if existing is None or _is_empty(existing):
            self.defined[name] = body
        elif not _is_empty(body):
            raise self.error(f"template: multiple definition of template {go_quote(name)}")

    def item_list(self) -> tuple[n.ListNode, n.EndNode]:
        start = self.peek_non_space().pos
        nodes: list[n.Node] = []
        while self.peek_non_space().typ is not Tok.EOF:
            node = self.text_or_action()
            if isinstance(node, n.EndNode):
                return n.ListNode(start, tuple(nodes)), node
            nodes.append(node)
        raise self.error("unexpected EOF")

    def text_or_action(self) -> n.Node:
        token = self.next_non_space()
        if token.typ is Tok.TEXT:
            return n.TextNode(token.pos, token.val)
        if token.typ is Tok.LEFT_DELIM:
            outer, self.action_line = self.action_line, token.line
            try:
                return self.action()
            finally:
                self.action_line = outer
        self.unexpected(token, "input")

    def action(self) -> n.Node:
        token = self.next_non_space()
        if token.typ is Tok.BLOCK:
            return self.block_control()
        if token.typ in (Tok.BREAK, Tok.CONTINUE):
            return self.loop_control(token)
        if token.typ is Tok.ELSE:
            return self.else_control()
        if token.typ is Tok.END:
            return n.EndNode(self.expect(Tok.RIGHT_DELIM, "end").pos, token.line, "end")
        if token.typ in (Tok.IF, Tok.RANGE, Tok.WITH):
            return self.branch(token.val)
        if token.typ is Tok.TEMPLATE:
            return self.template_control()
        self.backup()
        first = self.peek()
        return n.ActionNode(first.pos, first.line, self.pipeline("command", Tok.RIGHT_DELIM))

    # -- control structures --------------------------------------------------------------------------------

    def branch(self, kind: str) -> n.BranchNode:
        mark = len(self.vars)
        try:
            pipe = self.pipeline(kind, Tok.RIGHT_DELIM)
            self.range_depth += kind == "range"
            body, end = self.item_list()
            self.range_depth -= kind == "range"
            else_body = None
            if end.kind == "else":
                chained = self.peek().typ
                if (kind, chained) in (("if", Tok.IF), ("with", Tok.WITH)):
                    # `{{else if b}}` is `{{else}}{{if b}}…{{end}}{{end}}` with one shared {{end}}.
                    self.next()
                    else_body = n.ListNode(end.pos, (self.branch(kind),))
                else:
                    else_body, end = self.item_list()
                    if end.kind != "end":
                        raise self.error(f"expected end; found {end}")
            return n.BranchNode(kind, pipe.pos, pipe.line, pipe, body, else_body)
        finally:
            del self.vars[mark:]

    def else_control(self) -> n.EndNode:
        peek = self.peek_non_space()
        if peek.typ in (Tok.IF, Tok.WITH):
            return n.EndNode(peek.pos, peek.line, "else")
        token = self.expect(Tok.RIGHT_DELIM, "else")
        return n.EndNode(token.pos, token.line, "else")

    def loop_control(self, keyword: Token) -> n.LoopControlNode:
        token = self.next_non_space()
        if token.typ is not Tok.RIGHT_DELIM:
            self.unexpected(token, "{{" + keyword.val + "}}")
        if not self.range_depth:
            raise self.error("{{" + keyword.val + "}} outside {{range}}")
        return n.LoopControlNode(keyword.pos, keyword.line, keyword.val)

    def template_control(self) -> n.TemplateNode:
        context = "template clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe = None
        if self.next_non_space().typ is not Tok.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, Tok.RIGHT_DELIM)
        return n.TemplateNode(token.pos, token.line, name, pipe)

    def block_control(self) -> n.TemplateNode:
        context = "block clause"
        token = self.next_non_space()
        name = self.template_name(token, context)
        pipe = self.pipeline(context, Tok.RIGHT_DELIM)
        saved, self.vars = self.vars, ["$"]
        body, end = self.item_list()
        self.vars = saved
        if end.kind != "end":
            raise self.error(f"unexpected {end} in {context}")
        self._add(name, body)
        return n.TemplateNode(token.pos, token.line, name, pipe)

    def template_name(self, token: Token, context: str) -> str:
        if token.typ not in (Tok.STRING, Tok.RAW_STRING):
            self.unexpected(token, context)
        return self.unquote(token)

    # -- pipelines, commands, operands ---------------------------------------------------------------------

    def pipeline(self, context: str, end: Tok) -> n.PipeNode:
        start = self.peek_non_space()
        decl, is_assign = self.declarations(context)
        cmds: list[n.CommandNode] = []
        while True:
            token = self.next_non_space()
            if token.typ is end:
                pipe = n.PipeNode(start.pos, start.line, is_assign, tuple(decl), tuple(cmds))
                self.check_pipeline(pipe, context)
                return pipe
            if token.typ not in _OPERAND_START:
                self.unexpected(token, context)
            self.backup()
            cmds.append(self.command())

    def declarations(self, context: str) -> tuple[list[n.VariableNode], bool]:
        decl: list[n.VariableNode] = []
        while self.peek_non_space().typ is Tok.VARIABLE:
            variable = self.next_non_space()
            mark = self.index
            following = self.next_non_space()
            if following.typ in (Tok.ASSIGN, Tok.DECLARE):
                decl.append(n.VariableNode(variable.pos, (variable.val,)))
                self.vars.append(variable.val)
                return decl, following.typ is Tok.ASSIGN
            if following.typ is Tok.CHAR and following.val == ",":
                decl.append(n.VariableNode(variable.pos, (variable.val,)))
                self.vars.append(variable.val)
                if context == "range" and len(decl) < 2:
                    if self.peek_non_space().typ in (Tok.VARIABLE, Tok.RIGHT_DELIM, Tok.RIGHT_PAREN):
                        continue
                    raise self.error("range can only initialize variables")
                raise self.error(f"too many declarations in {context}")
            self.index = mark - 1  # `$x` is an operand, not a declaration: give it back
            break
        return decl, False

    def check_pipeline(self, pipe: n.PipeNode, context: str) -> None:
        if not pipe.cmds:
            raise self.error(f"missing value for {context}")
        for stage, cmd in enumerate(pipe.cmds[1:], start=2):
            if isinstance(cmd.args[0], _NOT_EXECUTABLE):
                raise self.error(f"non executable command in pipeline stage {stage}")

    def command(self) -> n.CommandNode:
        start = self.peek_non_space().pos
        args: list[n.Node] = []
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                args.append(operand)
            token = self.next()
            if token.typ is Tok.SPACE:
                continue
            if token.typ in (Tok.RIGHT_DELIM, Tok.RIGHT_PAREN):
                self.backup()
            elif token.typ is not Tok.PIPE:
                self.unexpected(token, "operand")
            break
        if not args:
            raise self.error("empty command")
        return n.CommandNode(start, tuple(args))

    def operand(self) -> n.Node | None:
        node = self.term()
        if node is None or self.peek().typ is not Tok.FIELD:
            return node
        pos = self.peek().pos
        fields: list[str] = []
        while self.peek().typ is Tok.FIELD:
            fields.append(self.next().val[1:])
        if isinstance(node, n.FieldNode):
            return n.FieldNode(pos, node.ident + tuple(fields))
        if isinstance(node, n.VariableNode):
            return n.VariableNode(pos, node.ident + tuple(fields))
        if isinstance(node, _NOT_EXECUTABLE):
            raise self.error(f"unexpected . after term {go_quote(str(node))}")
        return n.ChainNode(pos, node, tuple(fields))

    def term(self) -> n.Node | None:
        token = self.next_non_space()
        typ = token.typ
        if typ is Tok.IDENTIFIER:
            if token.val not in self.functions:
                raise self.error(f"function {go_quote(token.val)} not defined")
            return n.IdentifierNode(token.pos, token.val)
        if typ is Tok.DOT:
            return n.DotNode(token.pos)
        if typ is Tok.NIL:
            return n.NilNode(token.pos)
        if typ is Tok.VARIABLE:
            if token.val not in self.vars:
                raise self.error(f"undefined variable {go_quote(token.val)}")
            return n.VariableNode(token.pos, (token.val,))
        if typ is Tok.FIELD:
            return n.FieldNode(token.pos, (token.val[1:],))
        if typ is Tok.BOOL:
            return n.BoolNode(token.pos, token.val == "true")
        if typ in (Tok.NUMBER, Tok.CHAR_CONSTANT):
            return self.number(token)
        if typ is Tok.LEFT_PAREN:
            return self.pipeline("parenthesized pipeline", Tok.RIGHT_PAREN)
        if typ in (Tok.STRING, Tok.RAW_STRING):
            return n.StringNode(token.pos, token.val, self.unquote(token))
        self.backup()
        return None

    # -- literals ------------------------------------------------------------------------------------------

    def unquote(self, token: Token) -> str:
        try:
            return go_unquote(token.val)
        except ValueError:
            raise self.error("invalid syntax") from None

    def number(self, token: Token) -> n.NumberNode:
        text = token.val
        if token.typ is Tok.CHAR_CONSTANT:
            try:
                value = ord(go_unquote(text))
            except (ValueError, TypeError):
                raise self.error(f"malformed character constant: {text}") from None
            return n.NumberNode(token.pos, text, value, float(value), False)
        as_int = parse_int(text)
        if as_int is not None:
            return n.NumberNode(token.pos, text, as_int, float(as_int), looks_float(text))
        unsigned = parse_uint(text)
        if unsigned is not None:  # Go's IsUint: parses, and only executing it fails ("… overflows int")
            return n.NumberNode(token.pos, text, None, float(unsigned), False)
        try:
            value_f = float.fromhex(text) if re.match(r"[+-]?0[xX]", text) else float(text)
        except ValueError:
            raise self.error(f"illegal number syntax: {go_quote(text)}") from None
        if not re.search(r"[.eEpP]", text):
            raise self.error(f"integer overflow: {go_quote(text)}")
        integral = int(value_f) if value_f.is_integer() and abs(value_f) < 2**63 else None
        return n.NumberNode(token.pos, text, integral, value_f, True)


def _is_empty(node: n.ListNode) -> bool:
    return all(isinstance(child, n.TextNode) and not child.text.strip() for child in node.nodes)


def parse_tree(text: str, functions: Collection[str]) -> Tree:
    """Parse `text`; raises TemplateFailure with Go's message on a syntax error or an unknown function."""
    return Parser(text, functions).parse()
