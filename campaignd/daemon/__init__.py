"""The daemon: composition and process plumbing; it wires and ticks, the use cases decide.

Lives here: the service that builds store, messengers, engine and HTTP on one exit stack and
ticks (service.py), the drain and messenger closing on stop (stopping.py), progress lines and
systemd status (progress.py), what it wires onto the engine (wiring.py), worker processes
(workers.py), the APScheduler tick (scheduler.py), signals, systemd notify and logging set-up
(logs.py).
May import anything below it (use cases, adapters, http/); only cli/ imports it.
"""
