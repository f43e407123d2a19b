"""Refuses JSON nested deeper than a limit before any parser sees it (a deeply nested body
would otherwise exhaust the parser's recursion). Fed chunk by chunk; string contents and
escapes are skipped, so brackets inside strings do not count."""

from __future__ import annotations


class JsonDepthGuard:
    def __init__(self, max_depth: int = 64) -> None:
        self.max_depth = max_depth
        self.depth = 0
        self.in_string = False
        self.escaped = False
        self.too_deep = False

    def feed(self, chunk: bytes) -> bool:
        """False once the nesting has gone deeper than ``max_depth``."""
        if self.too_deep:
            return False
        # Fast path: this chunk cannot take the depth over the limit.
        if not self.in_string and self.depth + chunk.count(b"[") + chunk.count(b"{") \
                <= self.max_depth and b'"' not in chunk:
            self.depth += chunk.count(b"[") + chunk.count(b"{")
            self.depth -= chunk.count(b"]") + chunk.count(b"}")
            return True
        for byte in chunk:
            if self.in_string:
                if self.escaped:
                    self.escaped = False
                elif byte == 0x5C:  # backslash
                    self.escaped = True
                elif byte == 0x22:  # quote
                    self.in_string = False
            elif byte == 0x22:
                self.in_string = True
            elif byte in (0x5B, 0x7B):  # [ {
                self.depth += 1
                if self.depth > self.max_depth:
                    self.too_deep = True
                    return False
            elif byte in (0x5D, 0x7D):  # ] }
                self.depth -= 1
        return True
