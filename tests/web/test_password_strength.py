"""The guessability rule of new passwords (engine.web.password_strength, zxcvbn)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.web.accounts import AccountError, check_new_password
from engine.web.password_strength import CHECKED_LENGTH, too_guessable


@pytest.mark.parametrize(
    "password",
    ["password1234", "Password1234!", "qwertyuiop12", "letmein12345", "aaaaaaaaaaaa",
     "trustno1trustno1", "p" * 128],
)  # fmt: skip
def test_common_passwords_and_their_variants_are_refused(password: str) -> None:
    with pytest.raises(AccountError) as refused:
        check_new_password(password, name="ann")
    assert str(refused.value).startswith("password: too easy to guess. ")
    assert refused.value.field == "password"


@pytest.mark.parametrize(
    "password", ["correct-horse-42", "ward 7 coffee machine", "kettle-moss7", "xK9_2mPq-zzA"]
)
def test_passphrases_and_random_ones_pass(password: str) -> None:
    assert check_new_password(password, name="ann") == password


def test_the_user_name_inside_the_password_counts_against_it() -> None:
    password = "rosalind.quaid-2026"
    assert too_guessable(password, user_name="someone-else") is None
    assert too_guessable(password, user_name="rosalind.quaid") is not None


def test_a_long_password_is_judged_on_its_first_72_characters() -> None:
    strong = "violet anchor quarry tundra mosaic"
    assert too_guessable("a" * CHECKED_LENGTH + strong, user_name="ann") is not None
    assert too_guessable(strong + "a" * 90, user_name="ann") is None


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=12,
               max_size=40))  # fmt: skip
def test_the_refusal_never_repeats_the_password(password: str) -> None:
    why = too_guessable(password, user_name="ann")
    assert why is None or password not in why
