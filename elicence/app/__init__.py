"""The application layer: the facade the API and the CLI call (``service``), and the parts it
delegates to: access control and clients (``access``), trust lists, status lists and checkpoints
(``publishing``), the log audit and replay (``audit``), and mirroring an upstream (``mirror``).
Built only by :mod:`elicence.bootstrap`."""
