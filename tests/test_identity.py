"""Identity numbers (居民身份证号码): validation, synthetic numbers, masking and the encrypting vault."""

import re
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safetynet.identity import (
    IdentityVault,
    IdNumber,
    IdNumberError,
    check_digit,
    check_id_number,
    make_id_number,
    mask_id_number,
    parse_id_number,
    valid_id_numbers,
)
from safetynet.model import Sex

STANDARD_FEMALE = "11010519491231002X"  # the GB 11643-1999 example
STANDARD_1880 = "440524188001010014"  # the standard's other example, born before 1900
LEAP_DAY_MALE = "320106200002290019"


# --- check digit ---------------------------------------------------------------------------------


def test_check_digit_of_the_standard_examples():
    assert check_digit("11010519491231002") == "X"
    assert check_digit("44052418800101001") == "4"


@pytest.mark.parametrize("first17", ["1101051949123100", "110105194912310020", "1101051949123100A", ""])
def test_check_digit_needs_17_digits(first17):
    with pytest.raises(IdNumberError, match="check digit needs the first 17 digits"):
        check_digit(first17)


# --- parsing -------------------------------------------------------------------------------------


def test_parse_standard_example():
    parsed = parse_id_number(STANDARD_FEMALE)
    assert parsed == IdNumber(
        number=STANDARD_FEMALE, region_code="110105", birth_date=date(1949, 12, 31), sex=Sex.FEMALE
    )


def test_parse_male_born_on_a_leap_day():
    parsed = parse_id_number(LEAP_DAY_MALE)
    assert parsed.region_code == "320106"
    assert parsed.birth_date == date(2000, 2, 29)
    assert parsed.sex is Sex.MALE


def test_lowercase_x_and_whitespace_are_normalised():
    assert parse_id_number(" 11010519491231002x\n").number == STANDARD_FEMALE


def test_repr_leaves_the_number_out():
    assert STANDARD_FEMALE not in repr(parse_id_number(STANDARD_FEMALE))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("11010519491231002", "identity number must have 18 characters, got 17"),
        ("11010519491231002XX", "identity number must have 18 characters, got 19"),
        ("", "identity number must have 18 characters, got 0"),
        (
            "1101051949123100AX",
            "identity number must be 17 digits followed by a digit or 'X', got 'A' at position 17",
        ),
        (
            "X1010519491231002X",
            "identity number must be 17 digits followed by a digit or 'X', got 'X' at position 1",
        ),
        (
            "11010519491231002Y",
            "identity number must be 17 digits followed by a digit or 'X', got 'Y' at position 18",
        ),
        (
            "１1010519491231002X",  # full-width digit one
            "identity number must be 17 digits followed by a digit or 'X', got '１' at position 1",
        ),
        ("110105194913310020", "identity number has an invalid birth date 19491331"),
        ("110105194902290020", "identity number has an invalid birth date 19490229"),
        ("110105194912000020", "identity number has an invalid birth date 19491200"),
        ("110105000012310020", "identity number has an invalid birth date 00001231"),
        (STANDARD_1880, "birth date 1880-01-01 is before 1900"),
        ("110105209001010020", "birth date 2090-01-01 is in the future"),
        ("110105194912310025", "identity number check digit should be 'X', got '5'"),
        ("44052418800101001X", "birth date 1880-01-01 is before 1900"),
        ("320106200002290010", "identity number check digit should be '9', got '0'"),
    ],
)
def test_invalid_numbers_say_what_is_wrong(value, message):
    with pytest.raises(IdNumberError) as raised:
        parse_id_number(value)
    assert str(raised.value) == message


def test_invalid_number_is_a_value_error():
    with pytest.raises(ValueError):
        parse_id_number("123")


def test_today_bounds_the_birth_date():
    born = make_id_number("120101", date(2024, 3, 1), 7, Sex.MALE)
    assert parse_id_number(born, today=date(2024, 3, 1)).birth_date == date(2024, 3, 1)
    with pytest.raises(IdNumberError, match=r"^birth date 2024-03-01 is in the future$"):
        parse_id_number(born, today=date(2024, 2, 29))


def _accepted_unchanged(value, today=date(2026, 11, 23)):
    try:
        return check_id_number(value, today=today) == value
    except IdNumberError:
        return False


_INVALID = [value for value, _ in test_invalid_numbers_say_what_is_wrong.pytestmark[0].args[1]]


def test_the_column_check_agrees_with_check_id_number_on_known_numbers():
    values = [
        STANDARD_FEMALE,
        LEAP_DAY_MALE,
        "11010519491231002x",
        f" {STANDARD_FEMALE}",
        None,
        42,
        *_INVALID,
    ]
    got = valid_id_numbers(values, today=date(2026, 11, 23)).tolist()
    assert got == [_accepted_unchanged(v) if isinstance(v, str) else False for v in values]
    assert got[:2] == [True, True]


@given(
    st.lists(
        st.tuples(
            st.dates(date(1900, 1, 1), date(2026, 11, 1)),
            st.integers(0, 499),
            st.integers(0, 17),
            st.sampled_from("0123456789XxA /"),
        ),
        max_size=30,
    )
)
def test_the_column_check_agrees_with_check_id_number(mutations):
    """Valid numbers with one character changed (or not): the column check accepts exactly the numbers
    that check_id_number accepts unchanged (as of 2020-06-30, so some are born in the future)."""
    values = []
    for born, sequence, position, char in mutations:
        number = make_id_number("120101", born, sequence, Sex.MALE)
        values.append(number[:position] + char + number[position + 1 :])
    got = valid_id_numbers(values, today=date(2020, 6, 30)).tolist()
    assert got == [_accepted_unchanged(v, today=date(2020, 6, 30)) for v in values]


# --- synthetic numbers ---------------------------------------------------------------------------


def test_make_reproduces_the_standard_example():
    assert make_id_number("110105", date(1949, 12, 31), 1, Sex.FEMALE) == STANDARD_FEMALE
    assert make_id_number("320106", date(2000, 2, 29), 0, Sex.MALE) == LEAP_DAY_MALE


def test_make_order_code_range():
    assert make_id_number("110105", date(1990, 1, 1), 0, Sex.FEMALE)[14:17] == "000"
    assert make_id_number("110105", date(1990, 1, 1), 499, Sex.MALE)[14:17] == "999"


@pytest.mark.parametrize(
    ("region_code", "birth_date", "sequence", "message"),
    [
        ("11010", date(1990, 1, 1), 0, "region code must be 6 digits, got '11010'"),
        ("11010A", date(1990, 1, 1), 0, "region code must be 6 digits, got '11010A'"),
        ("110105", date(1990, 1, 1), -1, "sequence must be between 0 and 499, got -1"),
        ("110105", date(1990, 1, 1), 500, "sequence must be between 0 and 499, got 500"),
        ("110105", date(1899, 12, 31), 0, "birth date 1899-12-31 is before 1900"),
        ("110105", date(2090, 1, 1), 0, "birth date 2090-01-01 is in the future"),
    ],
)
def test_make_rejects_bad_parts(region_code, birth_date, sequence, message):
    with pytest.raises(IdNumberError) as raised:
        make_id_number(region_code, birth_date, sequence, Sex.MALE)
    assert str(raised.value) == message


@given(
    region_code=st.from_regex(r"[0-9]{6}", fullmatch=True),
    birth_date=st.dates(min_value=date(1900, 1, 1), max_value=date.today()),
    sequence=st.integers(min_value=0, max_value=499),
    sex=st.sampled_from(Sex),
)
def test_make_round_trips_through_parse(region_code, birth_date, sequence, sex):
    number = make_id_number(region_code, birth_date, sequence, sex)
    assert parse_id_number(number) == IdNumber(
        number=number, region_code=region_code, birth_date=birth_date, sex=sex
    )
    assert re.fullmatch(r"[0-9]{6}\*{8}[0-9]{3}[0-9X]", mask_id_number(number))


# --- masking -------------------------------------------------------------------------------------


def test_mask_keeps_region_and_last_four():
    assert mask_id_number(STANDARD_FEMALE) == "110105********002X"
    assert mask_id_number("12010119800101123x") == "120101********123X"
    assert len(mask_id_number(LEAP_DAY_MALE)) == 18


def test_mask_rejects_wrong_length():
    with pytest.raises(IdNumberError, match=r"^identity number must have 18 characters, got 4$"):
        mask_id_number("1234")


# --- vault ---------------------------------------------------------------------------------------


@pytest.fixture
def vault():
    return IdentityVault(["current-secret"])


def test_encrypt_decrypt_round_trip(vault):
    blob = vault.encrypt(STANDARD_FEMALE)
    assert isinstance(blob, bytes)
    assert STANDARD_FEMALE.encode() not in blob
    assert vault.decrypt(blob) == STANDARD_FEMALE


def test_encrypt_normalises(vault):
    assert vault.decrypt(vault.encrypt(" 11010519491231002x ")) == STANDARD_FEMALE


def test_blob_layout(vault):
    blob = vault.encrypt(STANDARD_FEMALE)
    assert len(blob) == 1 + 4 + 12 + 18 + 16  # version, key id, nonce, ciphertext, GCM tag
    assert blob[0] == 1


def test_encryptions_differ_but_lookup_hashes_match(vault):
    first, second = vault.encrypt(STANDARD_FEMALE), vault.encrypt(STANDARD_FEMALE)
    assert first != second
    assert first[1:5] == second[1:5]  # same key id
    assert first[5:17] != second[5:17]  # fresh nonce
    assert vault.lookup_hash(STANDARD_FEMALE) == vault.lookup_hash("11010519491231002x")
    assert re.fullmatch(r"[0-9a-f]{64}", vault.lookup_hash(STANDARD_FEMALE))


def test_lookup_hash_depends_on_number_and_key(vault):
    assert vault.lookup_hash(STANDARD_FEMALE) != vault.lookup_hash(LEAP_DAY_MALE)
    assert vault.lookup_hash(STANDARD_FEMALE) != IdentityVault(["other"]).lookup_hash(STANDARD_FEMALE)
    assert vault.lookup_hash(STANDARD_FEMALE) == IdentityVault(["current-secret"]).lookup_hash(
        STANDARD_FEMALE
    )


def test_decrypt_without_the_key_fails_clearly(vault):
    blob = vault.encrypt(STANDARD_FEMALE)
    with pytest.raises(
        ValueError, match=r"encrypted with a key \(id [0-9a-f]{8}\) that is not configured"
    ) as raised:
        IdentityVault(["another-secret"]).decrypt(blob)
    assert "add the old key to SAFETYNET_SECRET_KEY's rotation list" in str(raised.value)


def test_rotation():
    old_vault = IdentityVault(["old"])
    rotated = IdentityVault(["new", "old"])
    old_blob = old_vault.encrypt(STANDARD_FEMALE)

    assert rotated.decrypt(old_blob) == STANDARD_FEMALE
    assert rotated.needs_rotation(old_blob)
    assert not old_vault.needs_rotation(old_blob)

    new_blob = rotated.encrypt(rotated.decrypt(old_blob))
    assert not rotated.needs_rotation(new_blob)
    assert rotated.decrypt(new_blob) == STANDARD_FEMALE
    assert IdentityVault(["new"]).decrypt(new_blob) == STANDARD_FEMALE
    with pytest.raises(ValueError, match="not configured"):
        old_vault.decrypt(new_blob)

    assert rotated.lookup_hash(STANDARD_FEMALE) == IdentityVault(["new"]).lookup_hash(STANDARD_FEMALE)
    assert rotated.lookup_hash(STANDARD_FEMALE) != old_vault.lookup_hash(STANDARD_FEMALE)


@pytest.mark.parametrize(
    ("position", "message"),
    [
        (0, r"^encrypted identity number has format version 0, expected 1$"),
        (1, r"^identity number was encrypted with a key \(id [0-9a-f]{8}\) that is not configured"),
        (5, r"^encrypted identity number failed authentication"),  # nonce
        (20, r"^encrypted identity number failed authentication"),  # ciphertext
        (-1, r"^encrypted identity number failed authentication"),  # GCM tag
    ],
    ids=["version", "key-id", "nonce", "ciphertext", "tag"],
)
def test_tampered_blob_fails(vault, position, message):
    blob = bytearray(vault.encrypt(STANDARD_FEMALE))
    blob[position] ^= 0x01
    with pytest.raises(ValueError, match=message):
        vault.decrypt(bytes(blob))


def test_truncated_or_unknown_version_blob_fails(vault):
    blob = vault.encrypt(STANDARD_FEMALE)
    with pytest.raises(ValueError, match=r"too short: 32 bytes, expected at least 33"):
        vault.decrypt(blob[:32])
    with pytest.raises(ValueError, match=r"format version 2, expected 1"):
        vault.needs_rotation(b"\x02" + blob[1:])


def test_from_setting_splits_current_and_old_keys():
    old_blob = IdentityVault(["old"]).encrypt(STANDARD_FEMALE)
    vault = IdentityVault.from_setting(" new , old ")
    assert vault.decrypt(old_blob) == STANDARD_FEMALE
    assert vault.needs_rotation(old_blob)
    assert vault.lookup_hash(STANDARD_FEMALE) == IdentityVault(["new"]).lookup_hash(STANDARD_FEMALE)


@pytest.mark.parametrize("value", [None, "", "  ", "new,,old", "new,", ",old"])
def test_from_setting_rejects_missing_keys(value):
    with pytest.raises(ValueError, match="SAFETYNET_SECRET_KEY"):
        IdentityVault.from_setting(value)


def test_vault_needs_a_list_of_secrets():
    with pytest.raises(ValueError, match="SAFETYNET_SECRET_KEY"):
        IdentityVault([])
    with pytest.raises(TypeError, match="from_setting"):
        IdentityVault("new,old")
