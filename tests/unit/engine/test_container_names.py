"""engine/names.py: Docker-style generated names and the name rule."""

from __future__ import annotations

import random
import re

import pytest

from dockyard.engine.names import ADJECTIVES, SURNAMES, random_name, validate_name
from dockyard.errors import InvalidArgument


def test_generated_names_are_adjective_underscore_surname() -> None:
    rng = random.Random(7)
    for _ in range(200):
        name = random_name(rng=rng)
        adjective, _, surname = name.partition("_")
        assert adjective in ADJECTIVES and surname in SURNAMES
        assert name != "boring_wozniak"


def test_retry_appends_a_digit() -> None:
    assert re.fullmatch(r"[a-z]+_[a-z]+[0-9]", random_name(1, rng=random.Random(1)))


@pytest.mark.parametrize("name", ["web", "/web", "a1", "my.app_2-x"])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name.removeprefix("/")


@pytest.mark.parametrize("name", ["a", "-x", "_x", "has space", "ü1", ""])
def test_invalid_names_get_dockers_message(name: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        validate_name(name)
    assert info.value.message == f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
