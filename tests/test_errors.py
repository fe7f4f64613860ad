"""The helper error tree: one base, stdlib types where they fit, messages that say what to do."""

from __future__ import annotations

import inspect

import pytest
from replicate.exceptions import ModelError, ReplicateError

from replicate_nb import errors
from replicate_nb.errors import (
    BackendError,
    BatchInputError,
    EventLoopError,
    InvalidModelRef,
    PredictionTimeout,
    ReplicateNbError,
)


def _error_classes() -> list[type[BaseException]]:
    return [
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, BaseException) and obj.__module__ == errors.__name__
    ]


@pytest.mark.parametrize(
    ("cls", "stdlib"),
    [
        (BackendError, RuntimeError),
        (EventLoopError, RuntimeError),
        (InvalidModelRef, ValueError),
        (BatchInputError, TypeError),
        (PredictionTimeout, TimeoutError),
    ],
)
def test_tree__each_error_is_a_helper_error_and_its_stdlib_type(cls: type, stdlib: type) -> None:
    assert issubclass(cls, ReplicateNbError)
    assert issubclass(cls, stdlib)


def test_tree__base_is_a_plain_exception() -> None:
    assert ReplicateNbError.__bases__ == (Exception,)


def test_tree__every_class_is_drawn_in_the_module_docstring() -> None:
    doc = errors.__doc__ or ""
    for cls in _error_classes():
        assert cls.__name__ in doc
        assert issubclass(cls, ReplicateNbError)


def test_tree__sdk_errors_stay_outside() -> None:
    assert not issubclass(ReplicateError, ReplicateNbError)
    assert not issubclass(ModelError, ReplicateNbError)


def test_invalid_model_ref__quotes_the_ref_and_shows_the_format() -> None:
    message = str(InvalidModelRef("hello-world"))
    assert "'hello-world'" in message
    assert "owner/name" in message


def test_batch_input_error__names_the_index_and_the_fix() -> None:
    exc = BatchInputError(3, "Alice")
    assert "inputs[3]" in str(exc)
    assert "'Alice'" in str(exc)
    assert "dict" in str(exc)
    assert (exc.index, exc.value) == (3, "Alice")


def test_batch_input_error__shortens_long_values() -> None:
    assert len(str(BatchInputError(0, "x" * 1000))) < 250


def test_prediction_timeout__says_what_happened_and_what_to_do() -> None:
    exc = PredictionTimeout("abc123", 2.5)
    assert "abc123" in str(exc)
    assert "timeout=2.5" in str(exc)
    assert "canceled" in str(exc)
    assert "larger timeout" in str(exc)
    with pytest.raises(TimeoutError):
        raise exc


def test_bad_arguments_raise_invalid_argument_which_is_also_the_stdlib_type():
    import pytest

    import replicate_nb
    from replicate_nb import InvalidArgument, InvalidArgumentType

    cases = [
        (lambda: replicate_nb.run_many("replicate/hello-world", [], concurrency=0), ValueError),
        (lambda: replicate_nb.connect(backend="cloud"), ValueError),
        (lambda: replicate_nb.connect(backend="sandbox", base_url="http://x"), ValueError),
        (lambda: replicate_nb.text(42), TypeError),
        (lambda: replicate_nb.run_sync(42), TypeError),
        (lambda: replicate_nb.run_many("replicate/hello-world", ["not a dict"]), TypeError),
    ]
    for call, stdlib in cases:
        with pytest.raises(InvalidArgument) as info:
            call()
        assert isinstance(info.value, stdlib | replicate_nb.ReplicateNbError)
        assert isinstance(info.value, stdlib)
        if stdlib is TypeError:
            assert isinstance(info.value, InvalidArgumentType)
