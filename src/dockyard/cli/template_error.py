"""`TemplateError`, on its own so that a verb can catch it without importing the Go template engine (~25 ms)."""

from __future__ import annotations

from dockyard.errors import InvalidArgument


class TemplateError(InvalidArgument):
    """A template failed to parse or to execute.

    The message is what the docker CLI prints, e.g. ``template parsing error: template: :1: function "foo"
    not defined`` or ``template parsing error: template: :1:2: executing "" at <.Foo>: …`` (docker's
    formatter and inspect wrap both kinds alike). `detail` is Go's own error text without the prefix;
    `partial` is the output written before an execution error (Go keeps it; docker's table header uses it).
    """

    def __init__(self, detail: str, *, partial: str = "") -> None:
        super().__init__(f"template parsing error: {detail}")
        self.detail = detail
        self.partial = partial
