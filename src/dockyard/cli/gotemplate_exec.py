"""Executes a parsed Go template over Python data, as Go's text/template/exec.go does; no parsing here.

Fields read dict keys (Docker's JSON) or public attributes of objects (bound methods are called, like Go
methods). Where Go would fail, the error names the same node and position as Go's: the executor keeps the
node it is "at" for error reports exactly where exec.go calls `s.at`.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import NoReturn

from dockyard.cli import gotemplate_nodes as n
from dockyard.cli.gotemplate_args import ABSENT, go_attribute, literal, method_function, range_items, validated
from dockyard.cli.gotemplate_funcs import GO_PARAM_TYPES, FuncError, Function, Param, truth
from dockyard.cli.gotemplate_lex import TemplateFailure
from dockyard.cli.gotemplate_literals import go_quote
from dockyard.cli.gotemplate_parse import Tree
from dockyard.cli.gotemplate_typed import NIL_POINTER, GoMap, GoStruct, RowContext
from dockyard.cli.gotemplate_values import (
    MISSING,
    Boxed,
    format_v,
    go_type,
    unbox,
)
from dockyard.errors import DockyardError

MAX_TEMPLATE_DEPTH = 100  # Go allows 100000; Python's stack is smaller
_NO_FINAL = object()  # Go's missingVal: "no value piped in from the previous command"


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Executor:
    def __init__(self, tree: Tree, functions: Mapping[str, Function], *, missing_key_error: bool) -> None:
        self.tree = tree
        self.functions = functions
        self.missing_key_error = missing_key_error
        self.out: list[str] = []
        self.node: n.Node | None = None
        self.vars: list[list[object]] = []
        self.name = ""
        self.depth = 0

    def run(self, data: object) -> str:
        value = MISSING if data is None else data
        self.vars = [["$", value]]
        self.walk(value, self.tree.root)
        return "".join(self.out)

    # -- errors and variables ------------------------------------------------------------------------------

    def at(self, node: n.Node) -> None:
        self.node = node

    def error(self, message: str) -> NoReturn:
        if self.node is None:
            raise TemplateFailure(f"template: {self.name}: {message}", "".join(self.out))
        pos = self.node.pos
        text = self.tree.text
        line_start = text.rfind("\n", 0, pos) + 1
        line = text.count("\n", 0, pos) + 1
        column = len(text[line_start:pos].encode())
        raise TemplateFailure(
            f"template: :{line}:{column}: executing {go_quote(self.name)} at <{self.node}>: {message}",
            "".join(self.out),
        )

    def var_value(self, name: str) -> object:
        for entry in reversed(self.vars):
            if entry[0] == name:
                return entry[1]
        self.error(f"undefined variable: {name}")

    def set_var(self, name: str, value: object) -> None:
        for entry in reversed(self.vars):
            if entry[0] == name:
                entry[1] = value
                return
        self.error(f"undefined variable: {name}")

    # -- walking -------------------------------------------------------------------------------------------

    def walk(self, dot: object, node: n.Node) -> None:
        self.at(node)
        if isinstance(node, n.TextNode):
            self.out.append(node.text)
        elif isinstance(node, n.ActionNode):
            value = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.at(node)
                self.out.append("<no value>" if value is MISSING else format_v(value))
        elif isinstance(node, n.ListNode):
            for child in node.nodes:
                self.walk(dot, child)
        elif isinstance(node, n.BranchNode):
            if node.kind == "range":
                self.walk_range(dot, node)
            else:
                self.walk_if_or_with(dot, node)
        elif isinstance(node, n.TemplateNode):
            self.walk_template(dot, node)
        elif isinstance(node, n.LoopControlNode):
            raise _Break if node.kind == "break" else _Continue
        else:
            self.error(f"unknown node: {node}")

    def walk_if_or_with(self, dot: object, node: n.BranchNode) -> None:
        mark = len(self.vars)
        try:
            value = self.eval_pipeline(dot, node.pipe)
            if truth(value):
                self.walk(value if node.kind == "with" else dot, node.body)
            elif node.else_body is not None:
                self.walk(dot, node.else_body)
        finally:
            del self.vars[mark:]

    def walk_range(self, dot: object, node: n.BranchNode) -> None:
        self.at(node)
        mark = len(self.vars)
        try:
            value = self.eval_pipeline(dot, node.pipe)
            items = range_items(value, len(node.pipe.decl), self.error)
            body_mark = len(self.vars)
            for index, element in items:
                if node.pipe.decl:
                    self.vars[-1][1] = element
                if len(node.pipe.decl) > 1:
                    self.vars[-2][1] = index
                try:
                    self.walk(element, node.body)
                except _Break:
                    break
                except _Continue:
                    pass
                finally:
                    del self.vars[body_mark:]
            if not items and node.else_body is not None:
                self.walk(dot, node.else_body)
        finally:
            del self.vars[mark:]

    def walk_template(self, dot: object, node: n.TemplateNode) -> None:
        self.at(node)
        body = self.tree.defined.get(node.name)
        if body is None:
            self.error(f"template {go_quote(node.name)} not defined")
        if self.depth >= MAX_TEMPLATE_DEPTH:
            self.error(f"exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})")
        value = self.eval_pipeline(dot, node.pipe)
        saved = (self.vars, self.name)
        self.vars, self.name = [["$", value]], node.name
        self.depth += 1
        try:
            self.walk(value, body)
        finally:
            self.vars, self.name = saved
            self.depth -= 1

    # -- pipelines and commands ----------------------------------------------------------------------------

    def eval_pipeline(self, dot: object, pipe: n.PipeNode | None) -> object:
        if pipe is None:
            return MISSING
        self.at(pipe)
        value: object = _NO_FINAL
        for cmd in pipe.cmds:
            value = unbox(self.eval_command(dot, cmd, value))
        for variable in pipe.decl:
            if pipe.is_assign:
                self.set_var(variable.ident[0], value)
            else:
                self.vars.append([variable.ident[0], value])
        return value

    def not_a_function(self, args: tuple[n.Node, ...] | None, final: object) -> None:
        if (args is not None and len(args) > 1) or final is not _NO_FINAL:
            assert args
            self.error(f"can't give argument to non-function {args[0]}")

    def eval_command(self, dot: object, cmd: n.CommandNode, final: object) -> object:
        first = cmd.args[0]
        if isinstance(first, n.FieldNode):
            return self.eval_field_node(dot, first, cmd.args, final)
        if isinstance(first, n.ChainNode):
            return self.eval_chain_node(dot, first, cmd.args, final)
        if isinstance(first, n.IdentifierNode):
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if isinstance(first, n.PipeNode):
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, n.VariableNode):
            return self.eval_variable_node(dot, first, cmd.args, final)
        self.at(first)
        self.not_a_function(cmd.args, final)
        if isinstance(first, n.BoolNode):
            return first.value
        if isinstance(first, n.DotNode):
            return dot
        if isinstance(first, n.NilNode):
            self.error("nil is not a command")
        if isinstance(first, n.NumberNode):
            return self.ideal_constant(first)
        if isinstance(first, n.StringNode):
            return first.text
        self.error(f"can't evaluate command {go_quote(str(first))}")

    def ideal_constant(self, node: n.NumberNode) -> object:
        self.at(node)
        if node.is_float:
            return node.float_value
        if node.int_value is None:
            self.error(f"{node.text} overflows int")
        return node.int_value

    def eval_function(
        self, dot: object, node: n.IdentifierNode, cmd: n.Node, args: tuple[n.Node, ...] | None, final: object
    ) -> object:
        self.at(node)
        function = self.functions.get(node.name)
        if function is None:
            self.error(f"{go_quote(node.name)} is not a defined function")
        return self.eval_call(dot, function, cmd, node.name, args, final)

    def eval_field_node(self, dot: object, field: n.FieldNode, args: tuple[n.Node, ...], final: object) -> object:
        self.at(field)
        return self.eval_field_chain(dot, dot, field, field.ident, args, final)

    def eval_chain_node(
        self, dot: object, chain: n.ChainNode, args: tuple[n.Node, ...] | None, final: object
    ) -> object:
        self.at(chain)
        if isinstance(chain.node, n.NilNode):
            self.error(f"indirection through explicit nil in {chain}")
        receiver = self.eval_arg(dot, None, chain.node)
        return self.eval_field_chain(dot, receiver, chain, chain.fields, args, final)

    def eval_variable_node(
        self, dot: object, variable: n.VariableNode, args: tuple[n.Node, ...] | None, final: object
    ) -> object:
        self.at(variable)
        value = self.var_value(variable.ident[0])
        if len(variable.ident) == 1:
            self.not_a_function(args, final)
            return value
        return self.eval_field_chain(dot, value, variable, variable.ident[1:], args, final)

    def eval_field_chain(
        self,
        dot: object,
        receiver: object,
        node: n.Node,
        ident: tuple[str, ...],
        args: tuple[n.Node, ...] | None,
        final: object,
    ) -> object:
        for name in ident[:-1]:
            receiver = self.eval_field(dot, name, node, None, _NO_FINAL, receiver)
        return self.eval_field(dot, ident[-1], node, args, final, receiver)

    def eval_field(
        self,
        dot: object,
        name: str,
        node: n.Node,
        args: tuple[n.Node, ...] | None,
        final: object,
        receiver: object,
    ) -> object:
        if receiver is MISSING:
            if self.missing_key_error:
                self.error(f"nil data; no entry for key {go_quote(name)}")
            return MISSING
        type_name = go_type(receiver)
        value = receiver.value if isinstance(receiver, Boxed) else receiver
        if value is None or value is NIL_POINTER:
            self.error(f"nil pointer evaluating {type_name}.{name}")
        has_args = (args is not None and len(args) > 1) or final is not _NO_FINAL
        attribute = go_attribute(value, name)
        if inspect.ismethod(attribute):
            return self.eval_call(dot, method_function(attribute), node, name, args, final)
        if attribute is not ABSENT:
            if has_args:
                self.error(f"{name} has arguments but cannot be invoked as function")
            return attribute
        if isinstance(value, RowContext):  # docker's row contexts: fields are argument-free methods
            if name not in value.results:
                self.error(f"can't evaluate field {name} in type {type_name}")
            if has_args:
                given = (len(args) - 1 if args else 0) + (final is not _NO_FINAL)
                self.error(f"wrong number of args for {name}: want 0 got {given}")
            return value.field(name)
        if isinstance(value, GoStruct):
            found, field = value.lookup(name)
            if not found:
                self.error(f"can't evaluate field {name} in type {type_name}")
            if has_args:
                self.error(f"{name} has arguments but cannot be invoked as function")
            return field
        if isinstance(value, GoMap):  # typed: a missing key is "no value" (the typed run has no missingkey=error)
            if value.key_type != "string":
                self.error(f"can't evaluate field {name} in type {type_name}")
            if has_args:
                self.error(f"{name} is not a method but has arguments")
            return value.entries.get(name, MISSING)
        if isinstance(value, Mapping):
            if has_args:
                self.error(f"{name} is not a method but has arguments")
            if name in value:
                return Boxed(value[name])
            if self.missing_key_error:
                self.error(f"map has no entry for key {go_quote(name)}")
            return MISSING
        self.error(f"can't evaluate field {name} in type {type_name}")

    # -- calls and arguments -------------------------------------------------------------------------------

    def eval_call(
        self,
        dot: object,
        function: Function,
        node: n.Node,
        name: str,
        args: tuple[n.Node, ...] | None,
        final: object,
    ) -> object:
        arg_nodes = args[1:] if args else ()
        num_in = len(arg_nodes) + (final is not _NO_FINAL)
        fixed = len(function.params)
        if function.variadic is not None:
            if num_in < fixed:
                self.error(f"wrong number of args for {name}: want at least {fixed} got {len(arg_nodes)}")
        elif num_in != fixed:
            self.error(f"wrong number of args for {name}: want {fixed} got {num_in}")
        if function is self.functions.get("and") or function is self.functions.get("or"):
            return self.eval_and_or(dot, name, arg_nodes, final)
        kinds = [function.params[i] if i < fixed else function.variadic for i in range(num_in)]
        argv = [self.eval_arg(dot, kinds[i], arg) for i, arg in enumerate(arg_nodes)]
        if final is not _NO_FINAL:
            argv.append(self.validate_type(final, kinds[-1]))
        try:
            return function.impl(*argv)
        except (FuncError, DockyardError) as err:
            self.at(node)
            message = str(err)
            if name == "call" and arg_nodes and message.startswith("non-function of"):
                message = f"non-function {arg_nodes[0]}{message[len('non-function') :]}"  # Go names the callee
            self.error(f"error calling {name}: {message}")

    def eval_and_or(self, dot: object, name: str, arg_nodes: tuple[n.Node, ...], final: object) -> object:
        """Go ≥ 1.18 short-circuits: `and` stops at the first false argument, `or` at the first true one."""
        value: object = MISSING
        for arg in arg_nodes:
            value = self.eval_arg(dot, "value", arg)
            if truth(value) == (name == "or"):
                return value
        if final is not _NO_FINAL:
            value = self.validate_type(final, "value")
        return value

    def eval_arg(self, dot: object, kind: Param | None, node: n.Node) -> object:
        self.at(node)
        if isinstance(node, n.DotNode):
            return self.validate_type(dot, kind)
        if isinstance(node, n.NilNode):
            if kind in (None, "any"):
                return None
            if kind == "value":
                return MISSING
            if kind == "strings":
                return []
            assert kind is not None
            self.error(f"cannot assign nil to {GO_PARAM_TYPES[kind]}")
        if isinstance(node, n.FieldNode):
            return self.validate_type(self.eval_field_node(dot, node, (node,), _NO_FINAL), kind)
        if isinstance(node, n.VariableNode):
            return self.validate_type(self.eval_variable_node(dot, node, None, _NO_FINAL), kind)
        if isinstance(node, n.PipeNode):
            return self.validate_type(self.eval_pipeline(dot, node), kind)
        if isinstance(node, n.IdentifierNode):
            return self.validate_type(self.eval_function(dot, node, node, None, _NO_FINAL), kind)
        if isinstance(node, n.ChainNode):
            return self.validate_type(self.eval_chain_node(dot, node, None, _NO_FINAL), kind)
        return self.eval_literal(kind, node)

    def eval_literal(self, kind: Param | None, node: n.Node) -> object:
        return literal(kind, node, self.error, self.ideal_constant)

    def validate_type(self, value: object, kind: Param | None) -> object:
        """Check an evaluated argument against a parameter, with Go's messages for the typed ones."""
        return validated(value, kind, self.error)
