"""Benchmark harnesses (`proctor bench …`), outside the server package; results go in docs/benchmarks.md.

The helpers the tests share live here too: `clients` (a real aiortc student) and `redis_server`
(a private redis-server on a free port).
"""
