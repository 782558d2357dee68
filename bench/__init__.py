"""elicence benchmark: raw ECDSA beside sealing, verification and issuance with storage.

Run: ``.venv/bin/python bench/bench.py [--n 2000] [--postgres URL] [--no-http]`` (or
``.venv/bin/python -m bench`` from the repository's root; the same options).
Prints throughput and p50/p99 latency for each stage, and the raw ECDSA P-256 sign and verify
speed measured in the same run, and a pure-Python reference (the machine is shared and noisy:
compare ratios, not figures; noisy neighbours slow the interpreter more than OpenSSL).
Also the hall's case path (``bench/cases.py``): a complete case — submitted citing 2 e-licences
(both verified), accepted, reviewed, approved with its licence issued, completed — one by one and
from 8 threads, target >= 300 complete cases/s at the service layer (issues 7 and 20).
Targets (docs/design.md): sealing >= 50 % of raw sign, offline verify >= 70 % of raw verify,
issuance >= 2,000/s (service) and >= 1,000/s (batch API), HTTP issuance p99 <= 20 ms (<= 15 ms
under load), HTTP verify >= 2,000/s with p99 <= 20 ms (wrk, 8 connections), a signed licence
PDF (render + QR + PAdES B-B) <= 30 ms, printed beside pyHanko's own signing of a tiny fixed PDF
in the same run (``--pdf-only`` runs just that stage).
Also the size and the build and verify time of a status list of 1,000,000 licences with 1 %
revoked at random, and the time to refuse a 1,000,000-key JSON body and a 200 MB body at
``POST /api/v1/verify`` (``bench/refusals.py``: bounded by the route's body limit, not by the body).

Issue 19: SM2/SM3 sign and verify (gmssl-pyx, and the pure-Python gmssl for reference) beside
raw ECDSA, and the department key on a SoftHSM2 token beside the software key: raw CKM_ECDSA, the
token signer, sealing, issuance one by one and from 8 threads (``--hsm-only`` runs just these with
raw ECDSA and sealing).

``--import-rows 1000000`` runs the stock conversion instead (it takes minutes): it writes a CSV of
that many realistic paper licences across several departments and types, runs
``elicence import`` on it against SQLite and PostgreSQL (target: 1,000,000 rows in <= 90 s on
PostgreSQL, issue 20), then ``elicence registry audit`` on the result, with the audit's peak memory
(ru_maxrss of its process), all beside raw ECDSA measured in the same run.

``--http-only`` runs raw ECDSA and the served stages alone: wrk against ``elicence serve
--workers 2``, then the same wrk run against a bare FastAPI endpoint on the same server and
workers (``bench/bare.py``: the ceiling), then the load test, on SQLite and PostgreSQL.

Profiling a stage (py-spy is in the dev tools; ``-t`` keeps the worker threads apart, ``raw``
writes collapsed stacks to read or to feed a flame graph):

  SPY="-r 250 -t -f raw"; RUN=".venv/bin/python bench/bench.py"
  .venv/bin/py-spy record $SPY -o seal.txt -- $RUN --hsm-only
  .venv/bin/py-spy record $SPY -o cases.txt -- $RUN --cases-only
  .venv/bin/py-spy record $SPY -o stock.txt -- $RUN --import-rows 100000
  .venv/bin/py-spy record $SPY -o verify.txt --pid <a worker of elicence serve>
  .venv/bin/python -m cProfile -s tottime bench/bench.py --cases-only | head -60

One module a stage: common (raw ECDSA, the table of rows), memory (seal, offline verify, status
lists, presentations), refusals, pdf, sm2, hsm, issuance, usage, cases, http (the served workers
and wrk), stock (the conversion); options holds the command line, cli runs them in order.
"""
