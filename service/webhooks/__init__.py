"""Webhooks for HR systems: endpoints, a transactional outbox, a dispatcher, Standard Webhooks signatures."""
