"""The Keys: locks driven through a LAN gateway (seed 003), shares created through the cloud API."""
