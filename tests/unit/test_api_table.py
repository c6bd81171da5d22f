"""The api table names its handlers ("module:function", imported on first request), so a
misspelt name would surface only when a client first calls that API: resolve them all."""

from __future__ import annotations

import inspect

import pytest

from snakafka.server.apis import BROKER_APIS
from snakafka.server.dispatch import LazyHandler


@pytest.mark.parametrize("api", BROKER_APIS, ids=lambda api: str(api.key))
def test_every_handler_named_in_the_table_resolves_to_its_coroutine_function(api: object) -> None:
    handler = api.handler  # type: ignore[attr-defined]
    assert isinstance(handler, LazyHandler)
    function = handler.resolve()
    assert inspect.iscoroutinefunction(function)
    assert function.__name__ == handler.target.partition(":")[2]
    assert handler.resolve() is function  # imported once


def test_a_misspelt_handler_fails_on_resolve() -> None:
    with pytest.raises(AttributeError):
        LazyHandler("produce:handle_prodce").resolve()
    with pytest.raises(ModuleNotFoundError):
        LazyHandler("no_such_module:handle_produce").resolve()
