"""Campaign use cases: create (checked before it is stored), operator actions, summaries
(lifecycle.py); starting scheduled campaigns when due, within schedule_max_lag (scheduling.py);
which campaigns the public archive shows (archive.py).

May import: the core, rendering/, store/ (the protocol). Never db/, http/, daemon/ or cli/.
"""
