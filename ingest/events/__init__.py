"""Real-time events: Segment webhooks and Kafka into an inbox, applied as live changes
(docs/realtime.md)."""
