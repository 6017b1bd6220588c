"""The gateway and lock maintenance calls The Keys offers on the doors page (seed 003's gateway API)."""

from locks.vendors.base import DeviceAction, DeviceLevel

DEVICE_ACTIONS = (
    DeviceAction(
        name="gateway_synchronize",
        label="Synchronize gateway",
        level=DeviceLevel.GATEWAY,
        method="gateway_synchronize",
        done="{name}: synchronized with the vendor's cloud.",
    ),
    DeviceAction(
        name="gateway_update_firmware",
        label="Update gateway firmware",
        level=DeviceLevel.GATEWAY,
        method="gateway_update_firmware",
        done="{name}: firmware update done.",
        question="Are you sure you want to update the firmware of the gateway “{name}” now?",
        confirm=(
            "The gateway downloads and installs its latest firmware, even when it is already up to date. "
            "This can take a minute or more. Meanwhile it does not answer: the doors behind it cannot be "
            "opened from AccessBridge (members' Open buttons fail) and status refreshes fail."
        ),
    ),
    DeviceAction(
        name="door_synchronize",
        label="Synchronize lock",
        level=DeviceLevel.DOOR,
        method="locker_synchronize",
        done="{name}: lock synchronized.",
    ),
    DeviceAction(
        name="door_update_firmware",
        label="Update lock firmware",
        level=DeviceLevel.DOOR,
        method="locker_update_firmware",
        done="{name}: firmware update sent to the lock.",
        question="Are you sure you want to update the firmware of the lock “{name}” now?",
        confirm=(
            "The gateway installs the latest firmware on the lock. This can take several minutes. "
            "Meanwhile the lock may not open, from AccessBridge or otherwise; it restarts at the end "
            "and its state shows as unknown until the next status refresh."
        ),
    ),
)
