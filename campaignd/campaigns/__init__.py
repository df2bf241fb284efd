"""Campaign use cases: create (checked before it is stored), operator actions, summaries
(lifecycle.py); update, clone and delete (manage.py); lists (lists.py) and templates
(templates.py) managed with the rules that tie them to campaigns; starting scheduled campaigns
when due, within schedule_max_lag (scheduling.py); which campaigns the public archive shows
(archive.py); statistics (stats.py) and a list's growth per day (growth.py).

May import: the core, rendering/, store/ (the protocol). Never db/, http/, daemon/ or cli/.
"""
