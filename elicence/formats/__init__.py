"""The wire formats of docs/formats.md, each encoded and decoded in one module: the EL1 seal
(``seal``), the service-signed COSE envelope (``cose``), the trust list EL-TL1 (``trustlist``),
status lists EL-SL1 (``statuslist``), the event log's hash chain and checkpoints EL-CP1
(``eventlog``), the catalogue file (``catalogue_file``) and the input of a stock conversion
(``stockfile``). They sign through the ``Signer``
protocol of :mod:`elicence.keys.signer` and read no database."""
