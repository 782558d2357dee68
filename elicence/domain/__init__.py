"""Domain values shared by every part: check characters and identifiers (``codes``), the unified
licence catalogue (``catalogue``), licences and their events (``licence``), API clients and roles
(``clients``). Pure: no I/O, no framework, no settings."""
