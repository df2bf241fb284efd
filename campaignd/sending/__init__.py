"""The sending engine: claim ledger rows, render, pace, send, record.

Lives here: what runners share (engine.py), one campaign's claim loop and per-message send
path (runner.py), the chunked ledger filling (ledgerfill.py), the stop, pause decisions and
finishing (ending.py), claim leases, their renewal and recovery (claims.py), and the
group-commit recorder (recorder.py).
May import: the core, rendering/, messengers/ and store/ (their protocols). Never db/, http/,
daemon/ or cli/.
"""
