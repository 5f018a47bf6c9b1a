"""The protocol, with no I/O: clocks, versions and their encoding, placement and views, the
replica state machine over a ``Store`` interface, the sessions between replicas, and the
messages. Nothing here imports asyncio, Ray, SQLite, sockets or the wall clock
(``tests/test_sans_io.py`` checks every module of this folder): callers pass time in and
carry messages and writes out."""
