"""The routers of ``/api/v1``: each parses, calls one use case and shapes the reply."""
