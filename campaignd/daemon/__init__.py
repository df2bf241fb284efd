"""The daemon: composition and process plumbing.

Lives here: the service that builds store, messengers, engine and HTTP on one exit stack
(service.py), what it wires onto the engine (wiring.py), worker processes (workers.py), the
APScheduler tick (scheduler.py), signals, systemd notify and logging set-up (logs.py).
May import anything below it (use cases, adapters, http/); only cli/ imports it.
"""
