"""service.rubrics.jsonpatch: RFC 6902 JSON Patch, atomic, never modifying its input."""

from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.errors import Unprocessable
from service.rubrics.jsonpatch import PatchOperation, apply_patch
from service.rubrics.model import FrameworkContent
from service.rubrics.templates import load_templates


def ops(*raw: dict[str, Any]) -> list[PatchOperation]:
    """Operations as a client sends them (JSON names, so "from", not "from_")."""
    return [msgspec.convert(op, PatchOperation) for op in raw]


def patched(document: Any, *raw: dict[str, Any]) -> Any:
    before = copy.deepcopy(document)
    result = apply_patch(document, ops(*raw))
    assert document == before, "apply_patch modified its input"
    return result


def rejected(document: Any, *raw: dict[str, Any]) -> Unprocessable:
    """The patch fails as a whole; returns the error. The input is untouched."""
    before = copy.deepcopy(document)
    with pytest.raises(Unprocessable) as caught:
        apply_patch(document, ops(*raw))
    assert document == before, "a failed patch modified its input"
    assert caught.value.status == 422
    assert len(caught.value.errors) == 1
    return caught.value


def failing_index(document: Any, *raw: dict[str, Any]) -> str | None:
    return rejected(document, *raw).errors[0].pointer


# --- RFC 6902 Appendix A ----------------------------------------------------------------------------------


def test_a1_adding_an_object_member():
    assert patched({"foo": "bar"}, {"op": "add", "path": "/baz", "value": "qux"}) == {
        "baz": "qux",
        "foo": "bar",
    }


def test_a2_adding_an_array_element():
    assert patched({"foo": ["bar", "baz"]}, {"op": "add", "path": "/foo/1", "value": "qux"}) == {
        "foo": ["bar", "qux", "baz"]
    }


def test_a3_removing_an_object_member():
    assert patched({"baz": "qux", "foo": "bar"}, {"op": "remove", "path": "/baz"}) == {"foo": "bar"}


def test_a4_removing_an_array_element():
    assert patched({"foo": ["bar", "qux", "baz"]}, {"op": "remove", "path": "/foo/1"}) == {
        "foo": ["bar", "baz"]
    }


def test_a5_replacing_a_value():
    assert patched({"baz": "qux", "foo": "bar"}, {"op": "replace", "path": "/baz", "value": "boo"}) == {
        "baz": "boo",
        "foo": "bar",
    }


def test_a6_moving_a_value():
    document = {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}}
    assert patched(document, {"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}) == {
        "foo": {"bar": "baz"},
        "qux": {"corge": "grault", "thud": "fred"},
    }


def test_a7_moving_an_array_element():
    assert patched(
        {"foo": ["all", "grass", "cows", "eat"]}, {"op": "move", "from": "/foo/1", "path": "/foo/3"}
    ) == {"foo": ["all", "cows", "eat", "grass"]}


def test_a8_testing_a_value_success():
    document = {"baz": "qux", "foo": ["a", 2, "c"]}
    assert (
        patched(
            document,
            {"op": "test", "path": "/baz", "value": "qux"},
            {"op": "test", "path": "/foo/1", "value": 2},
        )
        == document
    )


def test_a9_testing_a_value_error():
    assert failing_index({"baz": "qux"}, {"op": "test", "path": "/baz", "value": "bar"}) == "/0"


def test_a10_adding_a_nested_member_object():
    assert patched({"foo": "bar"}, {"op": "add", "path": "/child", "value": {"grandchild": {}}}) == {
        "foo": "bar",
        "child": {"grandchild": {}},
    }


def test_a11_ignoring_unrecognized_elements():
    assert patched({"foo": "bar"}, {"op": "add", "path": "/baz", "value": "qux", "xyz": 123}) == {
        "foo": "bar",
        "baz": "qux",
    }


def test_a12_adding_to_a_nonexistent_target():
    assert failing_index({"foo": "bar"}, {"op": "add", "path": "/baz/bat", "value": "qux"}) == "/0"


def test_a14_escape_ordering():
    document = {"/": 9, "~1": 10}
    assert patched(document, {"op": "test", "path": "/~01", "value": 10}) == document


def test_a15_comparing_strings_and_numbers():
    assert failing_index({"/": 9, "~1": 10}, {"op": "test", "path": "/~01", "value": "10"}) == "/0"


def test_a16_adding_an_array_value():
    assert patched({"foo": ["bar"]}, {"op": "add", "path": "/foo/-", "value": ["abc", "def"]}) == {
        "foo": ["bar", ["abc", "def"]]
    }


# --- add --------------------------------------------------------------------------------------------------


def test_add_replaces_an_existing_member():
    assert patched({"a": 1}, {"op": "add", "path": "/a", "value": [2]}) == {"a": [2]}


def test_add_inserts_into_arrays():
    document = {"a": [1, 2, 3]}
    assert patched(document, {"op": "add", "path": "/a/0", "value": 0}) == {"a": [0, 1, 2, 3]}
    assert patched(document, {"op": "add", "path": "/a/3", "value": 4}) == {
        "a": [1, 2, 3, 4]
    }  # index == length
    assert patched(document, {"op": "add", "path": "/a/-", "value": 4}) == {"a": [1, 2, 3, 4]}
    assert patched({"a": []}, {"op": "add", "path": "/a/-", "value": None}) == {"a": [None]}


def test_add_at_the_root_replaces_the_document():
    assert patched({"a": 1}, {"op": "add", "path": "", "value": [1]}) == [1]


def test_add_with_escaped_member_names():
    assert patched(
        {},
        {"op": "add", "path": "/a~1b", "value": 1},
        {"op": "add", "path": "/m~0n", "value": 2},
        {"op": "add", "path": "/", "value": 3},
    ) == {"a/b": 1, "m~n": 2, "": 3}


def test_add_null_is_a_value():
    assert patched({}, {"op": "add", "path": "/a", "value": None}) == {"a": None}


def test_add_value_is_copied_not_shared():
    operations = ops({"op": "add", "path": "/a", "value": {"x": [1]}})
    result = apply_patch({}, operations)
    result["a"]["x"].append(2)
    assert operations[0].value == {"x": [1]}


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ({"a": [1, 2]}, "/a/3"),  # beyond the end
        ({"a": [1, 2]}, "/a/01"),  # leading zero
        ({"a": [1, 2]}, "/a/-1"),
        ({"a": [1, 2]}, "/a/x"),
        ({"a": [1, 2]}, "/a/ 1"),
        ({"a": [1, 2]}, "/a/"),
        ({"a": 1}, "/a/b"),  # the parent is a number
        ({"a": "text"}, "/a/0"),
        ({}, "/missing/child"),
        ({"a": 1}, "a"),  # not a pointer
    ],
)
def test_add_errors(document: Any, path: str):
    assert failing_index(document, {"op": "add", "path": path, "value": 0}) == "/0"


# --- remove -----------------------------------------------------------------------------------------------


def test_remove():
    document = {"a": {"b": 1, "c": 2}, "l": [1, 2, 3]}
    assert patched(document, {"op": "remove", "path": "/a/b"}) == {"a": {"c": 2}, "l": [1, 2, 3]}
    assert patched(document, {"op": "remove", "path": "/l/0"}) == {"a": {"b": 1, "c": 2}, "l": [2, 3]}
    assert patched(document, {"op": "remove", "path": "/l/2"}) == {"a": {"b": 1, "c": 2}, "l": [1, 2]}


@pytest.mark.parametrize(
    "path", ["/missing", "/a/missing", "/l/3", "/l/-", "/l/01", "/l/-1", "", "/a/b/c", "x"]
)
def test_remove_errors(path: str):
    assert failing_index({"a": {"b": 1}, "l": [1, 2, 3]}, {"op": "remove", "path": path}) == "/0"


# --- replace ----------------------------------------------------------------------------------------------


def test_replace():
    document = {"a": {"b": 1}, "l": [1, 2, 3]}
    assert patched(document, {"op": "replace", "path": "/a/b", "value": [9]}) == {
        "a": {"b": [9]},
        "l": [1, 2, 3],
    }
    assert patched(document, {"op": "replace", "path": "/l/0", "value": 0}) == {"a": {"b": 1}, "l": [0, 2, 3]}
    assert patched(document, {"op": "replace", "path": "/l/2", "value": 0}) == {"a": {"b": 1}, "l": [1, 2, 0]}
    assert patched(document, {"op": "replace", "path": "", "value": "all"}) == "all"


@pytest.mark.parametrize("path", ["/missing", "/a/missing", "/l/3", "/l/-", "/l/01", "/a/b/c"])
def test_replace_needs_an_existing_target(path: str):
    assert failing_index({"a": {"b": 1}, "l": [1, 2, 3]}, {"op": "replace", "path": path, "value": 0}) == "/0"


# --- move -------------------------------------------------------------------------------------------------


def test_move_between_objects_and_arrays():
    document = {"a": {"x": 1}, "l": [1, 2]}
    assert patched(document, {"op": "move", "from": "/a/x", "path": "/l/-"}) == {"a": {}, "l": [1, 2, 1]}
    assert patched(document, {"op": "move", "from": "/l/0", "path": "/a/y"}) == {
        "a": {"x": 1, "y": 1},
        "l": [2],
    }
    assert patched(document, {"op": "move", "from": "/a", "path": "/b"}) == {"b": {"x": 1}, "l": [1, 2]}


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        ("/l/0", "/l/2", ["b", "c", "a"]),
        ("/l/2", "/l/0", ["c", "a", "b"]),
        ("/l/0", "/l/1", ["b", "a", "c"]),
        ("/l/1", "/l/1", ["a", "b", "c"]),  # to itself: no change
        ("/l/0", "/l/-", ["b", "c", "a"]),
    ],
)
def test_move_reorders_array_items(source: str, target: str, expected: list[str]):
    assert patched({"l": ["a", "b", "c"]}, {"op": "move", "from": source, "path": target}) == {"l": expected}


def test_move_to_the_same_location_is_a_no_op():
    assert patched({"a": {"b": 1}}, {"op": "move", "from": "/a", "path": "/a"}) == {"a": {"b": 1}}


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("/a", "/a/b"),  # into its own child
        ("/a", "/a/b/c"),
        ("/l", "/l/0"),
        ("", "/x"),  # the whole document into itself
        ("/missing", "/x"),
        ("/l/2", "/x"),
        ("/l/0", "/l/3"),  # after removal the array has 2 items
        ("/a", "/missing/x"),
    ],
)
def test_move_errors(source: str, target: str):
    assert (
        failing_index({"a": {"b": {"c": 1}}, "l": [1, 2]}, {"op": "move", "from": source, "path": target})
        == "/0"
    )


def test_move_to_a_sibling_with_a_common_prefix_is_allowed():
    assert patched({"a": 1}, {"op": "move", "from": "/a", "path": "/ab"}) == {"ab": 1}


# --- copy -------------------------------------------------------------------------------------------------


def test_copy():
    document = {"a": {"x": [1]}, "l": [1]}
    assert patched(document, {"op": "copy", "from": "/a", "path": "/b"}) == {
        "a": {"x": [1]},
        "b": {"x": [1]},
        "l": [1],
    }
    assert patched(document, {"op": "copy", "from": "/a/x/0", "path": "/l/0"}) == {
        "a": {"x": [1]},
        "l": [1, 1],
    }
    assert patched(document, {"op": "copy", "from": "/a", "path": "/a/self"}) == {
        "a": {"x": [1], "self": {"x": [1]}},
        "l": [1],
    }


def test_copy_is_deep():
    result = patched(
        {"a": {"x": [1]}},
        {"op": "copy", "from": "/a", "path": "/b"},
        {"op": "add", "path": "/b/x/-", "value": 2},
    )
    assert result == {"a": {"x": [1]}, "b": {"x": [1, 2]}}


@pytest.mark.parametrize(("source", "target"), [("/missing", "/b"), ("/a", "/missing/b"), ("/l/1", "/b")])
def test_copy_errors(source: str, target: str):
    assert failing_index({"a": 1, "l": [1]}, {"op": "copy", "from": source, "path": target}) == "/0"


# --- test -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("/s", "x"),
        ("/n", 1),
        ("/n", 1.0),
        ("/f", 1.5),
        ("/z", None),
        ("/t", True),
        ("/o", {"b": [1, {"c": None}], "a": 1}),  # member order does not matter
        ("/l", [1, "2", None]),
        (
            "",
            {
                "s": "x",
                "n": 1,
                "f": 1.5,
                "z": None,
                "t": True,
                "o": {"a": 1, "b": [1, {"c": None}]},
                "l": [1, "2", None],
            },
        ),
    ],
)
def test_test_passes_on_equal_values(path: str, value: Any):
    document = {
        "s": "x",
        "n": 1,
        "f": 1.5,
        "z": None,
        "t": True,
        "o": {"a": 1, "b": [1, {"c": None}]},
        "l": [1, "2", None],
    }
    assert patched(document, {"op": "test", "path": path, "value": value}) == document


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("/s", "y"),
        ("/s", None),
        ("/n", "1"),
        ("/n", 2),
        ("/z", False),
        ("/z", 0),
        ("/o", {"a": 1}),
        ("/l", [1, "2"]),
        ("/l", ["2", 1, None]),
        ("/missing", None),
        ("/l/3", None),
    ],
)
def test_test_fails_on_different_values(path: str, value: Any):
    document = {"s": "x", "n": 1, "z": None, "o": {"a": 1, "b": 2}, "l": [1, "2", None]}
    assert failing_index(document, {"op": "test", "path": path, "value": value}) == "/0"


@pytest.mark.parametrize(
    ("document", "value"),
    [
        ({"a": 1}, True),
        ({"a": 0}, False),
        ({"a": True}, 1),
        ({"a": [1, 0]}, [True, False]),
        ({"a": {"b": 1}}, {"b": True}),
    ],
    ids=["1-true", "0-false", "true-1", "in-array", "in-object"],
)
def test_test_does_not_confuse_booleans_and_numbers(document: Any, value: Any):
    assert failing_index(document, {"op": "test", "path": "/a", "value": value}) == "/0"


def test_a_failed_test_stops_the_whole_patch():
    document = {"version": 1, "l": []}
    error = rejected(
        document,
        {"op": "add", "path": "/l/-", "value": 1},
        {"op": "test", "path": "/version", "value": 2},
        {"op": "replace", "path": "/version", "value": 3},
    )
    assert error.errors[0].pointer == "/1"
    assert "test failed" in error.errors[0].detail
    assert "operation 1" in error.detail and "nothing was changed" in error.detail


# --- malformed operations ---------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["add", "replace", "test"])
def test_value_is_required(op: str):
    error = rejected({"a": 1}, {"op": op, "path": "/a"})
    assert error.errors[0].pointer == "/0"
    assert "value" in error.errors[0].detail


@pytest.mark.parametrize("op", ["move", "copy"])
def test_from_is_required(op: str):
    error = rejected({"a": 1}, {"op": op, "path": "/b"})
    assert error.errors[0].pointer == "/0"
    assert "from" in error.errors[0].detail


def test_operations_decode_from_json():
    [operation] = msgspec.json.decode(
        b'[{"op": "move", "from": "/a", "path": "/b"}]', type=list[PatchOperation]
    )
    assert operation.from_ == "/a"
    assert msgspec.to_builtins(operation) == {"op": "move", "path": "/b", "from": "/a"}
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"op": "frobnicate", "path": "/a"}, PatchOperation)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"op": "add", "value": 1}, PatchOperation)


@pytest.mark.parametrize("token", ["²", "١"])
def test_non_ascii_digits_are_not_array_indexes(token: str):
    assert failing_index({"a": [1, 2]}, {"op": "remove", "path": f"/a/{token}"}) == "/0"


# --- atomicity and the operation index --------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"op": "remove", "path": "/nope"},
        {"op": "test", "path": "/a", "value": "no"},
        {"op": "add", "path": "/l/9", "value": 1},
        {"op": "move", "from": "/o", "path": "/o/x"},
        {"op": "copy", "from": "/nope", "path": "/x"},
        {"op": "replace", "path": "/nope", "value": 1},
    ],
)
@pytest.mark.parametrize("at", [0, 1, 3])
def test_a_failing_operation_rejects_the_whole_patch_and_names_its_index(bad: dict[str, Any], at: int):
    document = {"a": 1, "l": [1, 2], "o": {"k": "v"}}
    good = [
        {"op": "add", "path": "/b", "value": 2},
        {"op": "remove", "path": "/l/0"},
        {"op": "replace", "path": "/o/k", "value": "w"},
        {"op": "move", "from": "/a", "path": "/c"},
    ]
    raw = [*good[:at], bad, *good[at:]]
    assert failing_index(document, *raw) == f"/{at}"


def test_operations_see_the_effects_of_earlier_ones():
    document = {"dimensions": [{"code": "A", "weight": 1.0}]}
    result = patched(
        document,
        {"op": "add", "path": "/dimensions/-", "value": {"code": "B", "weight": 0.5}},
        {"op": "replace", "path": "/dimensions/0/weight", "value": 0.5},
        {"op": "test", "path": "/dimensions/1/code", "value": "B"},
        {"op": "move", "from": "/dimensions/1", "path": "/dimensions/0"},
        {"op": "copy", "from": "/dimensions/1/code", "path": "/first"},
        {"op": "remove", "path": "/first"},
    )
    assert result == {"dimensions": [{"code": "B", "weight": 0.5}, {"code": "A", "weight": 0.5}]}


def test_an_empty_patch_returns_an_equal_copy():
    document = {"a": [1, {"b": 2}]}
    result = patched(document)
    assert result == document and result is not document and result["a"] is not document["a"]


def test_patching_a_template_reorders_and_reweights():
    content = load_templates()["unesco-ai-competency-teachers"][-1].content
    document = msgspec.to_builtins(content)
    result = patched(
        document,
        {"op": "move", "from": "/dimensions/4", "path": "/dimensions/0"},
        {"op": "replace", "path": "/dimensions/0/weight", "value": 0.2},
        {"op": "replace", "path": "/dimensions/0/indicators/2/statement/en", "value": "Reworded"},
    )
    reordered = msgspec.convert(result, FrameworkContent, strict=True)
    assert [d.code for d in reordered.dimensions] == ["D5", "D1", "D2", "D3", "D4"]
    assert reordered.dimensions[0].indicators[2].statement["en"] == "Reworded"
    assert msgspec.to_builtins(content) == document


# --- properties -------------------------------------------------------------------------------------------


json_scalars = (
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False) | st.text(max_size=3)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["a", "b", "c", "~", "/", ""]), inner, max_size=4)
    ),
    max_leaves=20,
)
documents = st.dictionaries(st.sampled_from(["a", "b", "c", "l"]), json_values, max_size=4)


def pointers(document: Any, prefix: str = "") -> list[str]:
    """Every pointer into `document`, the root included."""
    found = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            found += pointers(value, f"{prefix}/{key.replace('~', '~0').replace('/', '~1')}")
    elif isinstance(document, list):
        for i, value in enumerate(document):
            found += pointers(value, f"{prefix}/{i}")
    return found


def scramble(node: Any) -> None:
    """Empty every container in `node`, depth first."""
    if isinstance(node, dict):
        for value in node.values():
            scramble(value)
        node.clear()
    elif isinstance(node, list):
        for value in node:
            scramble(value)
        node.clear()


@st.composite
def document_and_patch(draw: st.DrawFn) -> tuple[Any, list[PatchOperation]]:
    document = draw(documents)
    existing = pointers(document)
    extra = st.sampled_from(["/zz", "/a/-", "/l/0", "/l/00", "/a/9", "/b/c/d", "", "x", "/-"])
    paths = st.sampled_from(existing) | extra | st.sampled_from(existing).map(lambda p: p + "/-")
    operations = draw(
        st.lists(
            st.fixed_dictionaries(
                {"op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test"]), "path": paths},
                optional={"value": json_values, "from": paths},
            ),
            max_size=5,
        )
    )
    return document, ops(*operations)


@settings(max_examples=300, deadline=None)
@given(document_and_patch())
def test_apply_patch_never_mutates_its_input_and_fails_only_with_unprocessable(
    case: tuple[Any, list[PatchOperation]],
):
    document, operations = case
    before = copy.deepcopy(document)
    values_before = copy.deepcopy([op.value for op in operations])
    try:
        result = apply_patch(document, operations)
    except Unprocessable as exc:
        assert len(exc.errors) == 1
        pointer = exc.errors[0].pointer
        assert pointer is not None and pointer.startswith("/")
        assert 0 <= int(pointer[1:]) < len(operations)
        # atomic: the operations before the failing one succeed on their own
        assert document == before
        apply_patch(document, operations[: int(pointer[1:])])
    else:
        scramble(result)  # the result shares nothing with the input or the operations
    assert document == before
    assert [op.value for op in operations] == values_before


@settings(max_examples=200, deadline=None)
@given(documents, json_values, st.data())
def test_add_then_test_then_remove_round_trips(document: dict[str, Any], value: Any, data: st.DataObject):
    key = data.draw(st.sampled_from(["new", "a~b", "x/y"]))
    path = "/" + key.replace("~", "~0").replace("/", "~1")
    if key in document:
        return
    result = patched(
        document,
        {"op": "add", "path": path, "value": value},
        {"op": "test", "path": path, "value": value},
        {"op": "remove", "path": path},
    )
    assert result == document


@settings(max_examples=200, deadline=None)
@given(documents.flatmap(lambda d: st.tuples(st.just(d), st.sampled_from(pointers(d)))))
def test_testing_an_existing_location_against_its_own_value_passes(case: tuple[Any, str]):
    document, path = case
    node = document
    for token in path.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]
    assert patched(document, {"op": "test", "path": path, "value": copy.deepcopy(node)}) == document
