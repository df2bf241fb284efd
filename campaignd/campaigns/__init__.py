"""Campaign use cases: create (checked before it is stored), operator actions, summaries.

May import: the core, rendering/, store/ (the protocol). Never db/, http/, daemon/ or cli/.
"""
