"""Bounces and complaints: pure rules (rules.py), provider report parsers (providers.py, sns.py),
the use case that records them and applies [bounces] actions (suppression.py), and what the
operator sees of them: listings and per-campaign counts (report.py).

May import: the core, store/ (the protocol). Never sending/, http/, daemon/ or cli/.
"""
