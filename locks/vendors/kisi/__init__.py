"""KISI: members by group (role assignments), signed unlock webhooks, remote unlock."""
