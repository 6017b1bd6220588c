"""Card readers (seed 001): live requests (`live`), their API keys (`keys`), the reader API views and the
token registration and allow-list pages."""
