"""The Learn REST client: auth, paging, rate limits, retries, typed reads.

async with LearnClient(LearnSettings(base_url=..., client_id=..., client_secret=...)) as c:
    async for course in c.courses(available="Yes"):
        ...
"""

from gradesync.learn.client import LearnClient
from gradesync.learn.metrics import Metrics
from gradesync.learn.quota import LearnQuota
from gradesync.learn.settings import LearnSettings

__all__ = ["LearnClient", "LearnQuota", "LearnSettings", "Metrics"]
