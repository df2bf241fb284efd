"""Bounces and complaints: pure rules (rules.py), provider report parsers (providers.py, sns.py),
and the use case that records them and applies [bounces] actions (suppression.py).

May import: the core, store/ (the protocol). Never sending/, http/, daemon/ or cli/.
"""
