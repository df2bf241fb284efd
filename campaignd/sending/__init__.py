"""The sending engine: claim ledger rows, render, pace, send, record.

Lives here: the engine (engine.py) and the group-commit recorder (recorder.py).
May import: the core, rendering/, messengers/ and store/ (their protocols). Never db/, http/,
daemon/ or cli/.
"""
