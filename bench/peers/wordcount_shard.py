"""The word counting the peers run, matching orch's wordcount/count and the bench's hand-written counter.

A word is a maximal run of Unicode letters, lowercased. In Python: `[^\\W\\d_]+` over the text decoded
as UTF-8 (invalid bytes become U+FFFD, which is not a letter, so they separate words, as in orch).
Two known differences, neither present in the generated corpus: the pattern also accepts numeric
characters that are not decimal digits (e.g. superscripts, Roman numerals), and str.lower() uses full
case mapping where orch lowercases code point by code point. The bench compares the totals with orch's.
"""
import re
from collections import Counter

WORD = re.compile(r"[^\W\d_]+")
BLOCK = 4 << 20  # read in 4 MB blocks to keep the word lists small
WHITESPACE = b" \t\r\n"


def split(paths, shards):
    """Cuts the concatenated files into `shards` byte ranges, each cut just after ASCII whitespace.

    Returns a list of shards, each a list of (path, offset, length) segments.
    """
    import os
    sizes = [os.path.getsize(p) for p in paths]
    total = sum(sizes)
    result, current, seen = [], [], 0
    for path, size in zip(paths, sizes):
        start = 0
        while start < size:
            target = total * (len(result) + 1) // shards  # where the current shard should end
            if len(result) == shards - 1 or seen + size <= target:
                current.append((path, start, size - start))
                break
            cut = max(start, _cut_after_whitespace(path, target - seen, size))
            if cut > start:
                current.append((path, start, cut - start))
            result.append(current)
            current = []
            start = cut
        seen += size
    if current or not result:
        result.append(current)
    return result


def _cut_after_whitespace(path, offset, size):
    with open(path, "rb") as f:
        f.seek(offset)
        position = offset
        while position < size:
            block = f.read(1 << 16)
            if not block:
                break
            for k, byte in enumerate(block):
                if byte in WHITESPACE:
                    return position + k + 1
            position += len(block)
    return size


def count_segments(segments):
    """Counts the words of (path, offset, length) segments; returns a Counter. Segment ends end words."""
    counts = Counter()
    for path, offset, length in segments:
        with open(path, "rb") as f:
            f.seek(offset)
            carry = b""
            left = length
            while left > 0:
                block = f.read(min(BLOCK, left))
                if not block:
                    break
                left -= len(block)
                data = carry + block
                # Count up to the last whitespace; the tail may be half a word (or half a UTF-8 character).
                cut = max(data.rfind(b" "), data.rfind(b"\n")) + 1 if left > 0 else len(data)
                if cut == 0:
                    carry = data
                    continue
                counts.update(WORD.findall(data[:cut].decode("utf-8", "replace").lower()))
                carry = data[cut:]
            if carry:
                counts.update(WORD.findall(carry.decode("utf-8", "replace").lower()))
    return counts


def merge(partials):
    """Sums the per-shard counts; returns total and distinct words and the 20 most frequent."""
    total = Counter()
    for partial in partials:
        total.update(partial)
    return {"total_words": sum(total.values()), "distinct_words": len(total), "top": total.most_common(20)}


def corpus_files(directory):
    import os
    return sorted(os.path.join(directory, name) for name in os.listdir(directory)
                  if not name.startswith(".") and os.path.isfile(os.path.join(directory, name)))
