"""The subscriber-facing HTTP endpoint: unsubscribe, opt-in, bounce webhooks, health, metrics.

May import: the core, rendering/, bounces/, subscribers/, store/ (the protocol), sending/ (event
types and the engine it observes). Never daemon/ or cli/.
"""
