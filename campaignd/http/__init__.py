"""The subscriber-facing HTTP endpoint: unsubscribe, opt-in, bounce webhooks, health, metrics."""
