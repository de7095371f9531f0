"""Audio: where people speak (`speech`), so that their voices can be muted."""
