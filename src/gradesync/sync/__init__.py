"""The sync engine: what to read (selection), one course's cycle, the pure diff, events."""
