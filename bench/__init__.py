"""`make bench`: campaignd's throughput benchmark against Postfix's smtp-sink (see run.py)."""
