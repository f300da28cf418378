"""The domain: claims, accounts, the rule catalogue, the coverage and offsetting
engines and the claim life-cycle.

No I/O: nothing here reads or writes a file, a
socket or a database, and nothing imports a web, database, HTTP or CLI library
(tests/test_layers.py holds it to that), so every rule and engine can be tested
and reused as plain functions on plain values."""
