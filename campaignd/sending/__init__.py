"""The sending engine: claim ledger rows, render, pace, send, record.

Lives here: what runners share (engine.py), one campaign's claim loop and per-message send
path (runner.py), the chunked ledger filling (ledgerfill.py), the stop, pause decisions and
finishing (ending.py), claim leases, their renewal and recovery (claims.py), the
group-commit recorder (recorder.py), and per-domain pacing ([[domain_limits]]): the pure groups
(pacing.py), their `mx` grouping (mxgroups.py), a runner's recipients set aside for them
(waiting.py) and its paced path (paced.py).
May import: the core, rendering/, messengers/ and store/ (their protocols). Never db/, http/,
daemon/ or cli/.
"""
