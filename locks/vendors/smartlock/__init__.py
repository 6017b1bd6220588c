"""SmartLock, the generic cloud lock of seed 000: one person account = the doors of the connection."""
