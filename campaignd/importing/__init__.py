"""The CSV import use case: read a file, validate rows, upsert in batches, report bad rows.

Lives here: the pipeline (pipeline.py), file decoding (csvfile.py), pure row rules (csvrows.py),
the bounded duplicate tracker (seen.py).
May import: the core, campaignd.store.protocol (the seam it writes through). Never db/, http/,
daemon/ or cli/.
"""
