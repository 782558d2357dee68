"""The hall's case API (办件), pure: service items, cases, the workflow, deadlines, metrics.

What a hall does with e-licences: an applicant applies for a service item (事项) citing
e-licences instead of paper originals; departments accept, review and approve (issuing the
item's licence through the issuer); applicants follow progress, rate and complain; supervisors
read 三率一数. Its modules:

- ``items`` — the service-item catalogue (事项目录), its three catalogues and scenario bundles;
  ``items_file`` — its YAML file;
- ``numbers`` — case numbers with a MOD 37,36 check character;
- ``workflow`` — the case's transition table; ``roles`` — who may see and do what;
- ``calendar`` — working days and the holiday file;
- ``cases`` — cases, citations, uploads, ratings, work orders, complaints;
- ``application`` — checking a raw application and its uploads;
- ``ports`` — the Protocol seams (store, verifier, issuer, usage records, citation policy) that
  ``bootstrap`` fills, bundled as ``Seams``;
- the use cases over them: ``submission`` (apply, supplement), ``citing`` (checking cited
  e-licences), ``steps`` (the clerk's steps, visits, reading a case), ``approval`` (approve and
  issue), ``feedback`` (progress, ratings, rectification, complaints);
- ``metrics`` — 三率一数 and the composite score, from facts.

Layer: above ``formats`` and below ``issuer | verifier | templates | registry`` (so the registry
can store its values), importing only ``domain`` and ``errors``; the verifier and the issuer
reach it through Protocols only (docs/architecture.md).
"""
