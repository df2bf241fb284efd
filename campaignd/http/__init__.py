"""The subscriber-facing HTTP endpoint: unsubscribe, opt-in, the public subscription form, the
preference page, the campaign archive, bounce webhooks, health, metrics.

May import: the core, rendering/, bounces/, subscribers/, campaigns/, store/ (the protocol),
sending/ (event types and the engine it observes). Never daemon/ or cli/.
"""
