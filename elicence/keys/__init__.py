"""Key custody and PKI: the root CA, department and service certificates and the CRL (``pki``),
the ``Signer`` protocol (``signer``), key files at rest (``envelope``), the key store (``store``,
over ``keyfiles`` and ``entry``), keys on a PKCS#11 token (``pkcs11``), SM2 keys and their
certificates (``sm2``, ``sm2cert``) and the keyring a running service signs with (``keyring``).
The trust list's format is in :mod:`elicence.formats.trustlist`."""
