"""The CSV import use case: read a file, validate rows, upsert in batches, report bad rows.

Lives here: the use case's entry point (pipeline.py: run_import), the request and the report
(report.py), the file parsed into batches (batches.py), the two ways batches reach the database
(pump.py: Store.import_batch; bulkpump.py: a store's bulk session, ahead of its answers), the
file opened and decoded (csvsource.py) and read as CSV records (csvfile.py), pure row rules
(csvrows.py), spreadsheet-safe cells (csvsafe.py), the bounded duplicate tracker (seen.py), and
the way back: subscribers as CSV the import reads (export.py).
May import: the core, campaignd.store.protocol (the seam it writes through). Never db/, http/,
daemon/ or cli/.
"""
