"""How guessable a new password is: zxcvbn's estimate against its lists of common (breached)
passwords, names and words, and the user's own name (OWASP ASVS 2.1.7; NIST SP 800-63B 5.1.1.2).

Nothing leaves the machine: the lists ship inside the `zxcvbn` package. It is imported on first
use, so commands that set no password do not pay for it.
"""

from __future__ import annotations

# zxcvbn's scores 0 to 2 are guessed within 10^8 tries: the lists of breached passwords, their
# simple variants ("Password1234!") and a name with a year; 3 holds against an offline attack
# on a slow hash (zxcvbn's README), which is what a stolen copy of `web_user` would meet
MIN_SCORE = 3
# zxcvbn's time grows quickly with length (a random 128 characters: ~0.7 s here); its own limit
# is 72, and a password longer than that is judged on its first 72 characters
CHECKED_LENGTH = 72


def too_guessable(password: str, *, user_name: str) -> str | None:
    """Why `password` is too easy to guess (zxcvbn's warning and advice), or None if it is not."""
    from zxcvbn import zxcvbn

    result = zxcvbn(password[:CHECKED_LENGTH], user_inputs=[user_name])
    if result["score"] >= MIN_SCORE:
        return None
    feedback = result["feedback"]
    said = [feedback.get("warning") or "it is among the passwords tried first"]
    said += feedback.get("suggestions") or []
    return " ".join(s.rstrip(".") + "." for s in said if s)
