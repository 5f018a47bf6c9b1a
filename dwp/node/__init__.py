"""A storage node: the loop around a core replica (persist, answer, send), its SQLite
store, the Ray actor that hosts it, and the in-process transport of the tests."""
