"""Words in a transcript that may name someone: names, numbers and places, for a reviewer to
check before the new voice says them (`sensitive_words`).

Plain rules over the text, nothing looked up and nothing sent anywhere: they lean to marking
too much, and they miss what they cannot see (a name written in lower case, a name that opens
a sentence on its own, a place without a capital or a street word). A mark asks a person to
look; no mark is no promise.

- **name**: a capitalized word that does not open a sentence ("I" and its contractions are
  not names; a sentence opens after . ! ? … or an opening quote), or a run of two or more
  capitalized words anywhere ("Anna Petrova"; at a sentence's start without a common opening
  word: "The Guardian" marks "Guardian"); an email address. Titles keep the run going
  ("Mr. Smith").
- **number**: a token with a digit ("9", "221B", "07:30"), a number word ("nine",
  "twenty-one", "hundred", "third"), a phone-like run of digits ("+44 20 7946 0958").
- **place**: a name ending in a street word ("Baker Street", "Hyde Park"), a lower-case word
  before a street word ("baker street"), a name after "in", "at", "from", "near" or
  "around", or with a place-name ending ("Brighton", "Nashville"); a house number before a
  street is part of it.
"""

from __future__ import annotations

import re

KINDS = ("name", "number", "place")

NUMBER_WORDS = frozenset("""
    zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen
    fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy
    eighty ninety hundred thousand million billion dozen third fourth fifth sixth seventh
    eighth ninth tenth eleventh twelfth thirteenth fourteenth fifteenth sixteenth seventeenth
    eighteenth nineteenth twentieth thirtieth hundredth thousandth""".split())
# Street words: after a name (or, in lower case, after any word but a determiner) they make a
# place. The capitalized-only ones are common words in lower case ("the park").
STREET_WORDS = frozenset("""street st road rd avenue ave square sq lane ln boulevard blvd
    highway terrace crescent alley plaza""".split())
PLACE_WORDS = STREET_WORDS | frozenset("""park bridge station hill river lake bay drive way
    place court close gardens row walk market quay wharf harbour harbor heights estate
    village town city district county""".split())
PLACE_ENDINGS = ("ton", "ville", "burg", "burgh", "bury", "borough", "ford", "chester",
                 "caster", "mouth", "field", "wick", "stead", "grad", "polis", "stadt",
                 "shire")
PLACE_BEFORE = frozenset({"in", "at", "from", "near", "around"})
# A lower-case word before a street word that does not name it ("the street", "a main road").
NOT_PLACE = frozenset("""the a an this that these those my your his her its our their main
    same next other old new big small long busy quiet narrow wide whole empty one every
    any some each back side dirt""".split())
# Words that open sentences: the first of a capitalized run at a sentence's start that is one
# of these is no name ("Then Mr. Smith left": "Mr. Smith").
OPENING_WORDS = NOT_PLACE | PLACE_BEFORE | frozenset("""and but so or if then now well yes
    no oh ok okay hello hi hey dear please thanks thank when where what why how who which
    there here he she they we you it after before on to of for with by today tonight
    yesterday tomorrow also just maybe only even still later first last""".split())
TITLES = frozenset({"mr", "mrs", "ms", "dr", "prof", "st", "mt", "sr", "jr", "sgt", "capt"})
I_FORMS = frozenset({"i", "i'm", "i'll", "i'd", "i've"})
SENTENCE_END = ".!?…"
QUOTES = "\"“‘«"  # an opening quote starts a sentence ("He said: “Leave.”")
AROUND = "\"'“”‘’«»()[] \t\n"  # quotes, brackets and spaces between sentences

TOKEN = re.compile(r"""
    (?P<email>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)
  | (?P<phone>\+?\(?\d[\d ().-]{5,}\d)
  | (?P<number>\d[\w.,:/-]*\w|\d)
  | (?P<word>[^\W\d_][\w'’-]*[^\W_]|[^\W\d_])
""", re.VERBOSE)


Token = tuple[int, int, str, str]  # start, end, TOKEN's group, the token's text


def sensitive_words(text: str) -> list[tuple[int, int, str]]:
    """The stretches of `text` that may name someone or somewhere: (start, end, kind) with
    `text[start:end]` the words and kind one of `KINDS`, in order, never overlapping."""
    tokens: list[Token] = [(m.start(), m.end(), m.lastgroup or "", m.group())
                           for m in TOKEN.finditer(text)]
    found: list[tuple[int, int, str]] = []
    i = 0
    while i < len(tokens):
        start, end, group, word = tokens[i]
        if group == "email":
            found.append((start, end, "name"))
        elif group != "word" or _is_number(word):
            found.append((start, end, "number"))
        elif _capitalized(word):
            run = _run(text, tokens, i)
            mark = _name(text, tokens, i, run)
            if mark is not None:
                found.append(mark)
            i = run
            continue
        elif _lower_place(text, tokens, i):
            found.append((start, tokens[i + 1][1], "place"))
            i += 2
            continue
        i += 1
    return _with_house_numbers(text, found)


def _is_number(word: str) -> bool:
    """A word with a digit ("x2") or a number word ("nine", "twenty-one")."""
    parts = re.split(r"[-’']", word.lower())
    return any(c.isdigit() for c in word) or any(part in NUMBER_WORDS for part in parts)


def _capitalized(word: str) -> bool:
    return word[0].isupper() and _lower(word) not in I_FORMS


def _run(text: str, tokens: list[Token], i: int) -> int:
    """The index after the run of capitalized words from token `i`: words apart by spaces
    only, or by a title's full stop ("Mr. Smith")."""
    j = i + 1
    while j < len(tokens) and tokens[j][2] == "word" and _capitalized(tokens[j][3]):
        between = text[tokens[j - 1][1]:tokens[j][0]]
        title = between.strip() == "." and tokens[j - 1][3].lower() in TITLES
        if not (between.isspace() or title):
            break
        j += 1
    return j


def _name(text: str, tokens: list[Token], i: int, run: int) -> tuple[int, int, str] | None:
    """The mark of the capitalized words i…run-1: None for one word that opens a sentence; a
    place or a name otherwise (a run that opens a sentence without its opening word)."""
    words = [t[3] for t in tokens[i:run]]
    opening = _opens_sentence(text, tokens, i)
    if opening and len(words) == 1:
        return None
    if opening and (_lower(words[0]) in OPENING_WORDS or _lower(words[1]) in TITLES):
        i, words = i + 1, words[1:]  # "The Baker Street flat": the article is no name
    start, end = tokens[i][0], tokens[run - 1][1]
    before = _lower(tokens[i - 1][3]) if i > 0 else ""
    last = _lower(words[-1])
    place = (last in PLACE_WORDS and len(words) > 1) or before in PLACE_BEFORE or any(
        _lower(w).endswith(PLACE_ENDINGS) and len(w) > 5 for w in words)
    return start, end, "place" if place else "name"


def _lower_place(text: str, tokens: list[Token], i: int) -> bool:
    """Whether token `i` names the street word after it, in lower case ("baker street")."""
    if i + 1 >= len(tokens) or tokens[i + 1][2] != "word":
        return False
    word, street = _lower(tokens[i][3]), _lower(tokens[i + 1][3])
    return (street in STREET_WORDS and word not in NOT_PLACE | PLACE_BEFORE
            and text[tokens[i][1]:tokens[i + 1][0]].isspace())


def _opens_sentence(text: str, tokens: list[Token], i: int) -> bool:
    """Whether token `i` opens a sentence: the first of the text, or after . ! ? or …
    (quotes and brackets between), not after a title's full stop ("Mr. Smith")."""
    before = text[tokens[i - 1][1] if i else 0:tokens[i][0]]
    if i and before.strip() == "." and _lower(tokens[i - 1][3]) in TITLES:
        return False
    stripped = before.rstrip(AROUND)
    return (not i and not stripped) or stripped.endswith(tuple(SENTENCE_END)) or any(
        q in before for q in QUOTES)


def _with_house_numbers(text: str, found: list[tuple[int, int, str]]
                        ) -> list[tuple[int, int, str]]:
    """A number right before a place ("221B Baker Street") joined to it."""
    out: list[tuple[int, int, str]] = []
    for mark in found:
        if (out and mark[2] == "place" and out[-1][2] == "number"
                and text[out[-1][1]:mark[0]].isspace()):
            out[-1] = (out[-1][0], mark[1], "place")
        else:
            out.append(mark)
    return out


def _lower(word: str) -> str:
    return word.lower().replace("’", "'")
