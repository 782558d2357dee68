"""The application layer: the facade the API and the CLI call (``service``), and the parts it
delegates to: access control and clients (``access``), trust lists, status lists and checkpoints
(``publishing``), the log audit and replay (``audit``), mirroring an upstream (``mirror``), and
the stock conversion of existing paper licences (``stock``). Built only by
:mod:`elicence.bootstrap`."""
