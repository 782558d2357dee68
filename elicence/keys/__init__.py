"""Key custody and PKI: root CA, department signing certificates, signers, the trust list."""
