"""A token bucket per portal: the one in shared/ratelimit.py."""

from shared.ratelimit import TokenBuckets, retry_after

__all__ = ["TokenBuckets", "retry_after"]
