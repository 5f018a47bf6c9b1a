"""The benchmark harness: dwp against nginx and etcd on this machine, in one run.

``make bench`` (``python -m bench``) installs the comparison servers if missing, runs
every workload in alternating rounds on loopback, and writes ``docs/benchmarks.md``.
"""
