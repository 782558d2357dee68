"""The application layer: the facade the API and the CLI call (``service``), and the parts it
delegates to: clients, API keys and the role rules (``access``); the catalogue in force
(``catalogue``); licences read under the read rules, and their kept PDFs (``reading``); trust
lists, status lists and checkpoints (``publishing``); the log audit and replay (``audit``);
mirroring an upstream (``mirror``); the stock conversion of existing paper licences (``stock``);
the hall's facade and its seams (``hall``); the holder side — own licences, grants, usage
records, live codes (``holder``); holders' sign-in and web sessions (``identity``, ``signin``,
and the development-only ``demo_idp``); the console's preview (``console``); rate-limit charging
(``guard``); the audit trail (``trail``); backups and restores (``backup``). Built only by
:mod:`elicence.bootstrap`."""
