"""SM2 with SM3 on gmssl-pyx (GmSSL, C), checked against an independent implementation (the
pure-Python ``gmssl``) both ways and against the worked example of the standard."""

from __future__ import annotations

import pytest
from gmssl import sm2 as pure_sm2
from hypothesis import given, settings
from hypothesis import strategies as st

from elicence.keys import sm2

# The signature example of GM/T 0003.5-2012 / GB/T 32918.5-2017 on the recommended curve:
# private key dA, the message "message digest", the default user id, the random k, and r, s.
VECTOR_D = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8"
VECTOR_PUBLIC = (
    "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
    "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
)
VECTOR_K = "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21"
VECTOR_R = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
VECTOR_S = "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
MESSAGE = b"message digest"


def _pure(key: sm2.Sm2Key) -> pure_sm2.CryptSM2:
    return pure_sm2.CryptSM2(private_key=key.private_key.hex(), public_key=key.public_key.hex())


def test_the_standard_example_verifies_and_the_independent_implementation_reproduces_it() -> None:
    signature = bytes.fromhex(VECTOR_R + VECTOR_S)
    public = bytes.fromhex(VECTOR_PUBLIC)
    assert sm2.verify(public, MESSAGE, signature)  # GmSSL verifies the standard's signature
    pure = pure_sm2.CryptSM2(private_key=VECTOR_D, public_key=VECTOR_PUBLIC.lower())
    # the pure-Python implementation with the standard's k signs exactly the standard's r, s
    assert pure.sign_with_sm3(MESSAGE, VECTOR_K).upper() == VECTOR_R + VECTOR_S
    # and its Z and e are ours
    assert sm2.digest(public, MESSAGE).hex() == pure._sm3_z(MESSAGE)
    assert not sm2.verify(public, MESSAGE + b".", signature)


def test_what_gmssl_pyx_signs_the_pure_python_gmssl_verifies_and_the_reverse() -> None:
    key = sm2.Sm2Key.generate()
    signature = key.sign(MESSAGE)
    assert len(signature) == 64
    assert _pure(key).verify_with_sm3(signature.hex(), MESSAGE)
    theirs = bytes.fromhex(_pure(key).sign_with_sm3(MESSAGE))
    assert sm2.verify(key.public_key, MESSAGE, theirs)


@settings(max_examples=15, deadline=None)
@given(message=st.binary(max_size=300), user_id=st.binary(min_size=1, max_size=40))
def test_any_message_and_user_id_round_trip(message: bytes, user_id: bytes) -> None:
    key = sm2.Sm2Key.generate()
    signature = key.sign(message, user_id)
    assert sm2.verify(key.public_key, message, signature, user_id)
    if user_id != sm2.DEFAULT_USER_ID:
        assert not sm2.verify(key.public_key, message, signature)  # the id is bound in Z
    assert sm2.rs_to_der(signature) and sm2.der_to_rs(sm2.rs_to_der(signature)) == signature


_KEY = sm2.Sm2Key.generate()
_GOOD = _KEY.sign(MESSAGE)
_N = sm2.N.to_bytes(32, "big")


@pytest.mark.parametrize(
    ("public", "message", "signature"),
    [
        pytest.param(_KEY.public_key, MESSAGE + b"x", _GOOD, id="tampered-message"),
        pytest.param(sm2.Sm2Key.generate().public_key, MESSAGE, _GOOD, id="another-key"),
        pytest.param(_KEY.public_key, MESSAGE, _GOOD[:63], id="short-signature"),
        pytest.param(_KEY.public_key, MESSAGE, bytes(64), id="zero-signature"),
        pytest.param(_KEY.public_key, MESSAGE, _N + _GOOD[32:], id="r-equals-n"),
        pytest.param(_KEY.public_key[:63], MESSAGE, _GOOD, id="short-public-key"),
        pytest.param(bytes(64), MESSAGE, _GOOD, id="point-not-on-the-curve"),
        pytest.param(_KEY.public_key, MESSAGE, _GOOD[32:] + _GOOD[:32], id="r-and-s-swapped"),
    ],
)
def test_a_bad_signature_is_refused_never_raised(
    public: bytes, message: bytes, signature: bytes
) -> None:
    assert sm2.verify(public, message, signature) is False


def test_the_private_key_is_in_no_repr() -> None:
    key = sm2.Sm2Key.generate()
    assert key.private_key.hex() not in repr(key)
