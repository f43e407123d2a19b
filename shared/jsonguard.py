"""Refuses JSON nested deeper than a limit, or with more members than a limit, before any
parser sees it (a deeply nested body would exhaust the parser's recursion; a body of tens of
thousands of keys would keep the validator and its error list busy). Fed chunk by chunk;
string contents and escapes are skipped, so brackets and commas inside strings do not
count."""

from __future__ import annotations


class JsonDepthGuard:
    def __init__(self, max_depth: int = 64, max_members: int = 10_000) -> None:
        self.max_depth = max_depth
        self.max_members = max_members
        self.members = 0  # separators seen: every member but the first of each container
        self.depth = 0
        self.in_string = False
        self.escaped = False
        self.too_deep = False

    def feed(self, chunk: bytes) -> bool:
        """False once the nesting has gone deeper than ``max_depth`` or the members are more
        than ``max_members`` (``too_deep`` tells which)."""
        if self.too_deep or self.too_many:
            return False
        # Fast path: this chunk cannot take the depth over the limit.
        if not self.in_string and self.depth + chunk.count(b"[") + chunk.count(b"{") \
                <= self.max_depth and b'"' not in chunk:
            self.depth += chunk.count(b"[") + chunk.count(b"{")
            self.depth -= chunk.count(b"]") + chunk.count(b"}")
            self.members += chunk.count(b",")
            return not self.too_many
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
            elif byte == 0x2C:  # ,
                self.members += 1
                if self.too_many:
                    return False
        return True

    @property
    def too_many(self) -> bool:
        return self.members >= self.max_members
