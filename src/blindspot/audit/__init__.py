"""`blindspot audit`: attack an anonymized output the way someone who wants the people in it
would, and say plainly what is still there.

`attack` runs the checks over a file's frames (faces: leaks and re-identification; metadata)
and gathers the others: `text` (readable text left), `people` (people left, with
`--cover people`), `voice` (the speaker of a video or sound file, against its original),
`sound` (the original's speech left as it was, sample by sample: `check_sound`). `report`
writes the findings for people: a terminal table, JSON and a self-contained HTML page.
"""

from .attack import AuditResult, AuditSettings, audit_file, require_dlib
from .sound import SoundCheck, SoundLeak, check_sound

__all__ = ["AuditResult", "AuditSettings", "SoundCheck", "SoundLeak", "audit_file",
           "check_sound", "require_dlib"]
