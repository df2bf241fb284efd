"""Development-only tools: `make demo` (demo.py) and a capture SMTP server (devsmtp.py).

Not used by the daemon or the CLI. May import anything.
"""
