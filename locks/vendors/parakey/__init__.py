"""Parakey: keys ("accesses") granted to members by email, unlocks by ETag polling and Basic-auth webhooks."""
