"""Running work: one file through its stages (`pipeline`; a video's passes in `video`), many
files in parallel (`batch`, on a Ray cluster `cluster`), where outputs go (`outputs`), the run's
JSON report (`report`) and the demo. Uses `media`, `detect`, `audio`, `redact` and `track`;
only the CLI, `audit` and `review` use it."""
