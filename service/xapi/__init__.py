"""xAPI (Experience API 1.0.3) statements to a tenant's learning record store, from the outbox."""
