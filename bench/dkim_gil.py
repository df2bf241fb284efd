"""Does `cryptography` release the GIL while it signs? `python -m bench.dkim_gil`

Load-independent: with a 50 ms switch interval, a second thread spins in Python. An operation
that releases the GIL hands it to the spinner at every call and then waits for it to come
back, so the calling thread's rate collapses (to a few percent of its rate alone); one that
holds the GIL keeps running in 50 ms slices, about half its rate alone. Controls: hashlib's
SHA-256 of 64 KB (releases it) and a Python loop (holds it).
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from collections.abc import Callable

import cryptography
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed


def _rate(op: Callable[[], object], seconds: float) -> float:
    calls, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        op()
        calls += 1
    return calls / seconds


def _spin(stop: threading.Event) -> None:
    while not stop.is_set():
        pass


def _python_loop() -> None:
    total = 0
    for i in range(2000):
        total += i


def main() -> None:
    digest = hashlib.sha256(b"x").digest()
    rsa_key = rsa.generate_private_key(65537, 2048)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    pkcs1, prehashed = padding.PKCS1v15(), Prehashed(hashes.SHA256())
    block = b"x" * (1 << 16)
    ops: dict[str, Callable[[], object]] = {
        "RSA-2048 sign": lambda: rsa_key.sign(digest, pkcs1, prehashed),
        "Ed25519 sign": lambda: ed_key.sign(digest),
        "control: sha256 64 KB (releases)": lambda: hashlib.sha256(block).digest(),
        "control: Python loop (holds)": _python_loop,
    }
    sys.setswitchinterval(0.05)
    print(f"cryptography {cryptography.__version__}, switch interval 50 ms")
    for name, op in ops.items():
        alone = _rate(op, 1.0)
        stop = threading.Event()
        spinner = threading.Thread(target=_spin, args=(stop,))
        spinner.start()
        try:
            beside = _rate(op, 2.0)
        finally:
            stop.set()
            spinner.join()
        verdict = "releases the GIL" if beside < 0.25 * alone else "holds the GIL"
        print(
            f"{name:34} alone {alone:8,.0f}/s, beside a spinning thread {beside:8,.0f}/s "
            f"({beside / alone:.2f}): {verdict}"
        )


if __name__ == "__main__":
    main()
