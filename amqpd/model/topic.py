"""Topic routing by trie, with RabbitMQ's word rules.

A routing key and a binding key are split on "." into words (the empty key has
no words; "a..b" has an empty middle word). In a binding key "*" matches exactly
one word and "#" matches zero or more. The trie walks literal, "*" and "#"
edges; its cost depends on the key and the patterns that share its prefixes,
not on the number of unrelated bindings.
"""

from __future__ import annotations

from collections.abc import Hashable


def split_words(key: str) -> list[str]:
    return key.split(".") if key else []


class _Node:
    __slots__ = ("children", "destinations", "is_hash")

    def __init__(self, is_hash: bool = False) -> None:
        self.is_hash = is_hash
        self.children: dict[str, _Node] = {}
        # destination -> number of bindings ending here (keys with different arguments)
        self.destinations: dict[Hashable, int] = {}


class TopicTrie:
    def __init__(self) -> None:
        self._root = _Node()
        self.last_walk = 0  # trie states the last match visited (for tests and stats)

    def add(self, pattern: str, destination: Hashable) -> None:
        node = self._root
        for word in split_words(pattern):
            child = node.children.get(word)
            if child is None:
                child = node.children[word] = _Node(is_hash=word == "#")
            node = child
        node.destinations[destination] = node.destinations.get(destination, 0) + 1

    def remove(self, pattern: str, destination: Hashable) -> None:
        path = [self._root]
        for word in split_words(pattern):
            child = path[-1].children.get(word)
            if child is None:
                return
            path.append(child)
        node = path[-1]
        count = node.destinations.get(destination, 0)
        if count <= 1:
            node.destinations.pop(destination, None)
        else:
            node.destinations[destination] = count - 1
        # Prune nodes left with nothing below them.
        words = split_words(pattern)
        for depth in range(len(words), 0, -1):
            child = path[depth]
            if child.children or child.destinations:
                break
            del path[depth - 1].children[words[depth - 1]]

    def match(self, routing_key: str) -> set[Hashable]:
        words = split_words(routing_key)
        found: set[Hashable] = set()
        # States are (node, index of the next word). The seen-set bounds the walk:
        # with several "#" the same state is reachable along many paths.
        stack = [(self._root, 0)]
        seen: set[tuple[int, int]] = set()
        while stack:
            node, i = stack.pop()
            state = (id(node), i)
            if state in seen:
                continue
            seen.add(state)
            if i == len(words):
                found.update(node.destinations)
            else:
                for word in (words[i], "*"):
                    child = node.children.get(word)
                    if child is not None:
                        stack.append((child, i + 1))
                if node.is_hash:
                    stack.append((node, i + 1))  # "#" swallows one more word
            hash_child = node.children.get("#")
            if hash_child is not None:
                stack.append((hash_child, i))  # "#" may match zero words
        self.last_walk = len(seen)
        return found
