"""Words a reviewer should check in a transcript: names, numbers and places
(`blindspot.audio.words.sensitive_words`), by plain rules, nothing looked up."""

from __future__ import annotations

import pytest

from blindspot.audio.words import KINDS, sensitive_words


def marked(text: str) -> list[tuple[str, str]]:
    """The words marked in `text`, and their kinds."""
    found = sensitive_words(text)
    assert all(kind in KINDS and a < b for a, b, kind in found)
    assert all(b <= c for (_, b, _), (c, _, _) in zip(found, found[1:], strict=False))
    return [(text[a:b], kind) for a, b, kind in found]


def test_a_capital_inside_a_sentence_is_a_name_and_one_opening_it_is_not():
    assert marked("The meeting is with Anna tomorrow.") == [("Anna", "name")]
    assert marked("Bring the banner and tell nobody.") == []
    assert marked("It rained. Then Boris left. Later he came back!") == [("Boris", "name")]
    # quotes and brackets before the first word: still the sentence's start
    assert marked("He said: “Leave.” (Quietly) we left.") == []


def test_i_is_not_a_name_nor_are_its_contractions():
    assert marked("Then I said I'm sure, and I’ll go, I've seen it, I'd know.") == []
    assert marked("I told Marta that I would come.") == [("Marta", "name")]


def test_a_run_of_capitals_is_a_name_even_at_a_sentences_start():
    assert marked("Anna Petrova lives here.") == [("Anna Petrova", "name")]
    assert marked("Ask Mr. Smith and Dr. Jane Doe.") == [("Mr. Smith", "name"),
                                                          ("Dr. Jane Doe", "name")]
    # an opening word before a name is no part of it
    assert marked("The Guardian wrote it.") == [("Guardian", "name")]
    assert marked("And Karim came too.") == [("Karim", "name")]


def test_digits_and_number_words_are_numbers():
    assert marked("We met at 9, room 221B, at 07:30 on 12/03.") == [
        ("9", "number"), ("221B", "number"), ("07:30", "number"), ("12/03", "number")]
    assert marked("the old bridge at nine tonight") == [("nine", "number")]
    assert marked("twenty-one of them, a hundred more, the third floor") == [
        ("twenty-one", "number"), ("hundred", "number"), ("third", "number")]
    assert marked("nobody saw anything") == []  # "nobody" holds no number word


def test_a_street_a_place_ending_or_a_preposition_makes_a_place():
    assert marked("We meet on Baker Street at ten.") == [("Baker Street", "place"),
                                                         ("ten", "number")]
    assert marked("she lives at 221B Baker Street now") == [("221B Baker Street", "place")]
    assert marked("they live on baker street, near the main road") == [
        ("baker street", "place")]  # "the main road" names nothing
    assert marked("down the road and across the square") == []
    assert marked("She moved to Brighton, then lived in Lyon.") == [("Brighton", "place"),
                                                                     ("Lyon", "place")]
    assert marked("We walked through Hyde Park.") == [("Hyde Park", "place")]


def test_emails_and_phone_numbers_are_marked_whole():
    assert marked("Write to anna.k@example.org or call +44 20 7946 0958.") == [
        ("anna.k@example.org", "name"), ("+44 20 7946 0958", "number")]
    assert marked("call (555) 123-4567 today") == [("(555) 123-4567", "number")]


@pytest.mark.parametrize("text", ["", " ", "...", "i", "—", "123"])
def test_short_and_odd_texts(text):
    found = sensitive_words(text)
    assert all(0 <= a < b <= len(text) for a, b, _ in found)


def test_letters_beyond_ascii():
    assert marked("Yesterday Zoë flew in from Łódź with Søren.") == [
        ("Zoë", "name"), ("Łódź", "place"), ("Søren", "name")]
