"""Lifecycle services: plan, up, status, logs, cancel, down, recover. Commands call these."""
