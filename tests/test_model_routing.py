"""Exchange types and topic matching, pure."""

import decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amqpd.model.exchange_types import Direct, Fanout, Headers, Topic, headers_match
from amqpd.model.topic import TopicTrie
from amqpd.wire.fieldtable import ArgTable, typed_table


def reference_topic_match(pattern: str, key: str) -> bool:
    """A tiny matcher straight from the rules: '*' one word, '#' zero or more."""
    pwords = pattern.split(".") if pattern else []
    kwords = key.split(".") if key else []

    def match(p: int, k: int) -> bool:
        if p == len(pwords):
            return k == len(kwords)
        if pwords[p] == "#":
            return any(match(p + 1, j) for j in range(k, len(kwords) + 1))
        if k == len(kwords):
            return False
        return (pwords[p] == "*" or pwords[p] == kwords[k]) and match(p + 1, k + 1)

    return match(0, 0)


words = st.sampled_from(["a", "b", "c", ""])
keys = st.lists(words, max_size=5).map(".".join)
patterns = st.lists(st.sampled_from(["a", "b", "", "*", "#"]), max_size=5).map(".".join)


@settings(max_examples=500)
@given(bound=st.lists(patterns, max_size=8), key=keys)
def test_trie_agrees_with_the_reference_matcher(bound, key):
    trie = TopicTrie()
    for pattern in bound:
        trie.add(pattern, pattern)
    expected = {p for p in bound if reference_topic_match(p, key)}
    assert trie.match(key) == expected


@given(bound=st.lists(patterns, min_size=1, max_size=8), key=keys, data=st.data())
def test_trie_forgets_removed_bindings(bound, key, data):
    trie = TopicTrie()
    for pattern in bound:
        trie.add(pattern, pattern)
    removed = data.draw(st.sampled_from(bound))
    trie.remove(removed, removed)
    remaining = list(bound)
    remaining.remove(removed)
    expected = {p for p in remaining if reference_topic_match(p, key)}
    assert trie.match(key) == expected


def test_reference_matcher_examples():
    assert reference_topic_match("a.*", "a.b")
    assert not reference_topic_match("a.*", "a")
    assert reference_topic_match("a.#", "a")
    assert reference_topic_match("#", "")
    assert reference_topic_match("a..b", "a..b")
    assert reference_topic_match("*.b", ".b")
    assert not reference_topic_match("", "a")


def test_topic_cost_does_not_grow_with_unrelated_bindings():
    trie = TopicTrie()
    for i in range(20000):
        trie.add(f"unrelated{i}.x.y", i)
    trie.add("orders.*.created", "mine")
    assert trie.match("orders.eu.created") == {"mine"}
    # root, orders, orders.*, orders.*.created: the unrelated bindings are never visited.
    assert trie.last_walk == 4


def test_direct_routes_each_destination_once():
    direct = Direct()
    direct.bind("q1", "k", {})
    direct.bind("q1", "k", {"x": 1})
    direct.bind("q2", "other", {})
    assert set(direct.route("k", None)) == {"q1"}
    direct.unbind("q1", "k", {})
    assert set(direct.route("k", None)) == {"q1"}
    direct.unbind("q1", "k", {"x": 1})
    assert set(direct.route("k", None)) == set()


def test_fanout_ignores_keys():
    fanout = Fanout()
    fanout.bind("q1", "a", {})
    fanout.bind("q2", "b", {})
    assert set(fanout.route("zzz", None)) == {"q1", "q2"}


def test_topic_exchange_type():
    topic = Topic()
    topic.bind("q", "orders.#", {})
    assert set(topic.route("orders.eu.created", None)) == {"q"}


def match(arguments: dict, headers: dict) -> bool:
    """headers_match with the message headers typed as a table built in code is."""
    return headers_match(arguments, typed_table(headers))


def test_headers_all_and_any():
    assert match({"x-match": "all", "a": 1, "b": "x"}, {"a": 1, "b": "x", "c": 2})
    assert not match({"x-match": "all", "a": 1, "b": "x"}, {"a": 1})
    assert match({"x-match": "any", "a": 1, "b": "x"}, {"b": "x"})
    assert not match({"x-match": "any", "a": 1}, {"a": 2})
    assert match({"a": 1}, {"a": 1})  # all is the default


def test_headers_void_value_means_presence_only():
    assert match({"x-match": "all", "a": None}, {"a": "anything"})
    assert not match({"x-match": "all", "a": None}, {"b": 1})


def test_headers_values_compare_as_erlang_terms():
    assert not match({"a": 1}, {"a": "1"})
    assert not match({"a": True}, {"a": 1})
    assert match({"a": 7}, {"a": 7.0})
    assert match({"a": "abc"}, {"a": b"abc"})


def typed_match(bound: tuple, sent: tuple) -> bool:
    """A binding {"k": bound} as received off the wire, against the header "k": sent."""
    return headers_match(ArgTable.from_typed({"k": bound}), {"k": sent})


NUMBERS = [("b", 5), ("B", 5), ("s", 5), ("u", 5), ("I", 5), ("i", 5), ("l", 5), ("f", 5.0),
           ("d", 5.0), ("T", 5)]  # fmt: skip


@pytest.mark.parametrize("bound", NUMBERS)
@pytest.mark.parametrize("sent", NUMBERS)
def test_headers_numbers_of_every_width_and_timestamps_match_by_value(bound, sent):
    assert typed_match(bound, sent)


FIVE = decimal.Decimal(5)
FIVE_ONE_PLACE = decimal.Decimal(50).scaleb(-1)


@pytest.mark.parametrize(
    "bound, sent, matched",
    [
        (("D", FIVE), ("I", 5), False),  # a decimal is not an integer
        (("I", 5), ("D", FIVE), False),
        (("D", FIVE), ("D", FIVE), True),
        (("D", FIVE), ("D", FIVE_ONE_PLACE), False),  # {0,5} is not {1,50}
        (("t", True), ("b", 1), False),
        (("b", 0), ("t", False), False),
        (("S", b"5"), ("x", b"5"), True),
        (("S", b"5"), ("I", 5), False),
        (("f", 5.5), ("d", 5.5), True),
        (("A", [("I", 5)]), ("A", [("I", 5)]), True),
        (("A", [("I", 5)]), ("A", [("b", 5)]), False),  # elements keep their types
        (("A", [("I", 5)]), ("I", 5), False),
        (("F", {"a": ("I", 5)}), ("F", {"a": ("I", 5)}), True),
        (("F", {"a": ("I", 5)}), ("F", {"a": ("l", 5)}), False),
        (("F", {}), ("A", []), True),  # both are Erlang's empty list
        (("I", 5), ("V", None), False),
        (("V", None), ("V", None), True),  # a void binding value asks for presence only
    ],
)
def test_headers_value_matrix(bound, sent, matched):
    assert typed_match(bound, sent) is matched


def test_headers_x_arguments_only_with_x():
    assert match({"x-match": "all", "x-foo": 1}, {})
    assert not match({"x-match": "all-with-x", "x-foo": 1}, {})
    assert match({"x-match": "any-with-x", "x-foo": 1}, {"x-foo": 1})


def test_headers_exchange_type():
    headers = Headers()
    headers.bind("q", "", {"x-match": "any", "kind": "order"})
    assert set(headers.route("", typed_table({"kind": "order"}))) == {"q"}
    headers.unbind("q", "", {"x-match": "any", "kind": "order"})
    assert set(headers.route("", typed_table({"kind": "order"}))) == set()
