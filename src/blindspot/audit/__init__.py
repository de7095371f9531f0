"""`blindspot audit`: attack an anonymized output the way someone who wants the people in it
would, and say plainly what is still there.

`attack` runs the checks over a file's frames (faces: leaks and re-identification; metadata)
and gathers the others: `text` (readable text left), `people` (people left, with
`--cover people`), `voice` (the speaker of a video, against its original). `report` writes the
findings for people: a terminal table, JSON and a self-contained HTML page.
"""

from .attack import AuditResult, AuditSettings, audit_file, require_dlib

__all__ = ["AuditResult", "AuditSettings", "audit_file", "require_dlib"]
