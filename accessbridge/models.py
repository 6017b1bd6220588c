from django.db import models


class WorkerStart(models.Model):
    """When a task worker last started on a host: /health/ tells a worker that is starting (no task
    finished yet) from one that is not running. Written by the worker itself (accessbridge.health)."""

    host = models.CharField(max_length=255, unique=True)
    started_at = models.DateTimeField()

    def __str__(self):
        return f"{self.host} {self.started_at:%Y-%m-%d %H:%M:%S}"


class RateSlot(models.Model):
    """The next free request slot of one rate limit (accessbridge.ratelimit), shared by every worker.

    `next_at_us` is a wall-clock time in microseconds: integers, so five slots a second are exactly 200,000
    apart and never drift into a sixth."""

    key = models.CharField(max_length=100, unique=True)
    next_at_us = models.BigIntegerField(default=0)

    def __str__(self):
        return self.key
