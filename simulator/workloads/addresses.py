"""Pod IP addresses on the loopback range.

Every simulated pod gets its own 127.A.B.C address so that EndpointSlices, `Server address:`
lines and proxy logs tell pods apart the way pod IPs do in a cluster. Linux routes the whole
127.0.0.0/8 block to the loopback interface, so any of those addresses can be bound without
setup or privileges; other platforms (macOS) only answer on 127.0.0.1, and there every pod
shares that address and is told apart by port alone.
"""

from __future__ import annotations

import functools
import socket

__all__ = ["pod_ip_for", "loopback_aliases_work", "MAX_POD_INDEX"]

# Host numbers 1..254 in each /24: .0 and .255 look like network/broadcast addresses to humans
# and to some tools, so they are never handed out.
_HOSTS_PER_BLOCK = 254
# 127.0.0.1 is position 0 and is skipped: it is the address everything else on the machine uses.
MAX_POD_INDEX = 256 * 256 * _HOSTS_PER_BLOCK - 2


@functools.cache
def loopback_aliases_work() -> bool:
    """Whether this platform lets a socket bind 127.0.0.2 (probed once per process)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        probe.bind(("127.0.0.2", 0))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def pod_ip_for(index: int) -> str:
    """The loopback address of pod number `index` (0-based): 127.0.0.2, 127.0.0.3, ...

    Distinct indices give distinct addresses up to `MAX_POD_INDEX`; where the platform cannot
    bind 127.0.0.2 every index maps to 127.0.0.1.
    """
    if index < 0 or index > MAX_POD_INDEX:
        raise ValueError(f"pod index {index} is outside 0..{MAX_POD_INDEX}")
    if not loopback_aliases_work():
        return "127.0.0.1"
    position = index + 1
    block, host = divmod(position, _HOSTS_PER_BLOCK)
    a, b = divmod(block, 256)
    return f"127.{a}.{b}.{host + 1}"
