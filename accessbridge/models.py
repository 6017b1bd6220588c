from django.db import models


class WorkerStart(models.Model):
    """When a task worker last started on a host: /health/ tells a worker that is starting (no task
    finished yet) from one that is not running. Written by the worker itself (accessbridge.health)."""

    host = models.CharField(max_length=255, unique=True)
    started_at = models.DateTimeField()

    def __str__(self):
        return f"{self.host} {self.started_at:%Y-%m-%d %H:%M:%S}"
