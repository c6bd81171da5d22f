"""What starting an EmbeddedBroker imports (in a fresh interpreter, by sys.modules).

The first broker of a test session pays for its imports; modules only some configurations
or APIs need load when used (TLS and its cryptography, SASL, the ZooKeeper client, the
metrics endpoint, handler modules of APIs no client called yet). A module-level import of
one of them would silently bring the cost back: this test names them. It checks what is
loaded, not how long it takes (benchmarks/embedded_start.py prints the time). On the code
before these imports became lazy it fails (cryptography, the ACL handlers and the SASL
modules were all loaded at start).

kio loads hypothesis whenever it is installed, so hypothesis cannot be on the list.
"""

from __future__ import annotations

import json
import subprocess
import sys

_SCRIPT = """
import json, sys
from snakafka.testing import EmbeddedBroker
broker = EmbeddedBroker().start()
loaded = sorted(sys.modules)
broker.stop()
print(json.dumps(loaded))
"""

NOT_AT_START = (
    "cryptography",  # TLS key stores and client certificates (server/tls.py)
    "kazoo",  # cluster mode's ZooKeeper store
    "prometheus_client",  # metrics.http.listener
    "snakafka.security.scram",  # SASL listeners and clients
    "snakafka.security.plain",
    "snakafka.server.handlers.acls",  # a handler module: loads on its API's first request
    "snakafka.server.handlers.produce",
    "kio.schema.produce",  # ...and the kio schemas it imports
    "kio.schema.sasl_handshake",
    "kio.schema.write_txn_markers",  # cluster-only requests
    "kio.schema.broker_heartbeat",
    "snakafka.coordinator.group",  # the coordinators: created on first use (server/coordinator_host.py)
    "snakafka.coordinator.transaction",
)


def test_starting_an_embedded_broker_leaves_what_it_does_not_use_unimported() -> None:
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=120, check=True)
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert "snakafka.server.broker" in loaded and "snakafka.server.handlers.api_versions" in loaded  # it did start
    unexpected = sorted(m for m in loaded if any(m == name or m.startswith(name + ".") for name in NOT_AT_START))
    assert unexpected == []
