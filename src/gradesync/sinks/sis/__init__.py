"""The SIS writer sink (docs/contract.md section 5): grade changes pushed into a student
information system, by the per-grade ``upsert`` protocol or the batched ``gradesjourney`` one.

Both share the identity and value mapping (:mod:`.mapping`), the authentication (a static bearer
token or OAuth2 client credentials, :mod:`.auth`) and one request path (:mod:`.client`).
"""

from gradesync.sinks.sis.gradesjourney import GradesJourneySink
from gradesync.sinks.sis.upsert import UpsertSink

__all__ = ["GradesJourneySink", "UpsertSink"]
