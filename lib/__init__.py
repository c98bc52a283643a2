"""Shared code that imports no app: outbound HTTP and its guard, environment readers, logging,
request ids, metrics definitions. Everything above may import it; it imports nothing above."""
