"""`single_fact`: stories in the style of bAbI task 1 ("single supporting fact"), from a seed.

A story is between 2 and `sentences` statements such as "mary went back to the kitchen",
then a question "where is mary": the answer is the place of that person's last move. Words
are ids into VOCABULARY + the first `people` names + the first `places` places (0 pads), so
the vocabulary has len(VOCABULARY) + people + places words.

Fields: story i32[B, memory, WORDS] holds the statements most recent first (slot 0 is the
last one, the order temporal encodings index), padded with empty slots; `slots` f32[B,
memory] is 1 where a slot holds a sentence; question i32[B, WORDS]; answer i32[B], the
place's word id. A story that could be longer than the memory is refused (DataError E260).
"""

from __future__ import annotations

import numpy as np

from nndsl.data.table import DataError

VOCABULARY = ("<pad>", "where", "is", "to", "the", "back", "went", "moved", "journeyed",
              "travelled")
NAMES = ("mary", "john", "sandra", "daniel", "fred", "bill", "julie", "emma")
PLACES = ("kitchen", "garden", "office", "bathroom", "hallway", "bedroom", "cinema", "park")
VERBS = ("went", "moved", "journeyed", "travelled")
WORDS = 6  # the longest sentence: "mary went back to the kitchen"
STORY_TOO_LONG, TOO_MANY = "E260", "E261"


def vocabulary(people: int, places: int) -> list[str]:
    """Every word, by id."""
    return [*VOCABULARY, *NAMES[:people], *PLACES[:places]]


def check_options(args: dict) -> None:
    """Stories must fit the memory (E260); names and places are bounded (E261)."""
    if args["sentences"] > args["memory"]:
        raise DataError(STORY_TOO_LONG, f"single_fact: a story of up to {args['sentences']} "
                        f"sentences is longer than the memory of {args['memory']} slots",
                        f"give memory={args['sentences']} or more, or fewer sentences")
    for option, limit in (("people", len(NAMES)), ("places", len(PLACES))):
        if args[option] > limit:
            raise DataError(TOO_MANY, f"single_fact: `{option}` is at most {limit}, got "
                            f"{args[option]}")


def _sentence(words: list[str], index: dict[str, int]) -> np.ndarray:
    row = np.zeros(WORDS, np.int32)
    row[:len(words)] = [index[w] for w in words]
    return row


def story(args: dict, rng, index: dict[str, int]):
    """One story's statements (oldest first), question and answer word id."""
    people, places = NAMES[:args["people"]], PLACES[:args["places"]]
    length = rng.randint(2, args["sentences"] + 1)
    where, lines = {}, []
    for _ in range(length):
        who, place = people[rng.randint(len(people))], places[rng.randint(len(places))]
        back = ["back"] if rng.rand() < 0.2 else []
        lines.append(_sentence([who, VERBS[rng.randint(len(VERBS))], *back, "to", "the",
                                place], index))
        where[who] = place
    asked = sorted(where)[rng.randint(len(where))]
    return lines, _sentence(["where", "is", asked], index), index[where[asked]]


def single_fact(args: dict) -> dict:
    """Train/val/test stories, each split from its own seed."""
    from nndsl.data.sources import split_counts  # sources registers this loader

    check_options(args)
    index = {w: i for i, w in enumerate(vocabulary(args["people"], args["places"]))}

    def make(n, rng):
        out = {"story": np.zeros((n, args["memory"], WORDS), np.int32),
               "slots": np.zeros((n, args["memory"]), np.float32),
               "question": np.zeros((n, WORDS), np.int32), "answer": np.zeros(n, np.int32)}
        for i in range(n):
            lines, question, answer = story(args, rng, index)
            out["story"][i, :len(lines)] = lines[::-1]  # most recent first
            out["slots"][i, :len(lines)] = 1
            out["question"][i], out["answer"][i] = question, answer
        return out

    return split_counts(make, args)
