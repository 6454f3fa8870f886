#!/usr/bin/env python3
"""Writes world_goldens.json: texts and their RWKV "world" token ids from the
official TRIE_TOKENIZER of the `rwkv` pip package (BlinkDL's), for
tests/tokenizer/world_tokenizer_test.cc.

    pip install rwkv            # rwkv.rwkv_tokenizer needs no torch
    python3 tests/data/tokenizer/make_world_goldens.py [path/to/rwkv_vocab_v20230424.txt]

The default vocabulary is ../shared/fixtures/tokenizers/rwkv-world/ (the same
content as the file the package ships, with LF line ends). Each case records
`text` and `ids` (TRIE_TOKENIZER(vocab).encode(text)); decoding the ids must
give the text back byte for byte (the world tokenizer does no normalization).
Cases with `splits_a_character` true have a token in their ids that is not
valid UTF-8 by itself (a token that ends or starts inside a character): the
test streams those through StreamDecoder.

`tokens_fnv1a64` checks every token's bytes at once: FNV-1a 64 over, for id
0..65535, the token's byte length (4 bytes, little-endian) then its bytes
(ids not in the file count as empty). `tokens` lists the bytes (hex) of a
sample: every line whose literal uses an escape, quotes or a b'' prefix,
and every 97th id.
"""

import json
import os
import random
import sys

from rwkv.rwkv_tokenizer import TRIE_TOKENIZER

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_VOCAB = os.path.join(HERE, '..', '..', '..', '..', 'shared', 'fixtures', 'tokenizers',
                             'rwkv-world', 'rwkv_vocab_v20230424.txt')

PYTHON_CODE = '''def fibonacci(n: int) -> list[int]:
    """Return the first n Fibonacci numbers."""
    a, b = 0, 1
    out = []
    for _ in range(n):
        out.append(a)
        a, b = b, a + b
    return out


if __name__ == "__main__":
    print(fibonacci(10))  # [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]
'''

CPP_CODE = '''#include <vector>

namespace demo {
\ttemplate <typename T>
\tT Sum(const std::vector<T>& v) {
\t\tT total{};
\t\tfor (const T& x : v) total += x;  // accumulate
\t\treturn total;
\t}
}  // namespace demo
'''

JSON_TEXT = '{"id": 42, "name": "rwkv7-0.1b", "ctx": 4096, "tags": ["a", "b"], "ok": true}\n'

PROSE = ('The quick brown fox jumps over the lazy dog. It was the best of times, it was '
         'the worst of times; it was the age of wisdom, it was the age of foolishness. ')


def random_text(seed, alphabet, n):
  rng = random.Random(seed)
  return ''.join(rng.choice(alphabet) for _ in range(n))


def five_kb_mixed():
  rng = random.Random(20230424)
  pieces = ['state', 'model', 'token', ' recurrent', '\u72b6\u6001', '\u6a21\u578b', '\u3067\u3059',
            '\ud55c\uad6d\uc5b4', '\u0645\u0631\u062d\u0628\u0627', ' ', '\n', '\t', '  ', '123',
            '\U0001f600', 'caf\u00e9', '\u00fcber', '->', '::', '();', '\u2014']
  out = []
  size = 0
  while size < 5000:
    p = rng.choice(pieces)
    out.append(p)
    size += len(p.encode('utf-8'))
  return ''.join(out)


CASES = [
    ('empty', ''),
    ('single_letter', 'a'),
    ('single_space', ' '),
    ('single_newline', '\n'),
    ('single_nul', '\x00'),
    ('single_del', '\x7f'),
    ('single_e_acute', '\u00e9'),
    ('single_cjk', '\u4e2d'),
    ('single_emoji', '\U0001f600'),
    ('single_max_code_point', '\U0010ffff'),
    ('hello_world', 'Hello, world!'),
    ('prose', PROSE),
    ('prose_x4', PROSE * 4),
    ('contractions', "I'm sure they'll say it's fine, but we've seen what you'd do."),
    ('capitals', 'THE QUICK BROWN FOX; The Quick Brown Fox; tHE qUICK bROWN fOX'),
    ('numbers', '0 1 12 123 1234 12345 123456 3.14159 -42 1e-5 0x7fff 1,000,000 2023-04-24'),
    ('digits_run', '31415926535897932384626433832795028841971693993751058209749445923'),
    ('punctuation', '!!! ??? ... --- *** ### $$$ %%% &&& ((( ))) [[[ ]]] {{{ }}} <<< >>>'),
    ('chinese', '\u6211\u4eec\u6b63\u5728\u6784\u5efa\u4e00\u4e2a\u63a8\u7406\u670d\u52a1\u5668'
     '\uff0c\u5b83\u652f\u6301\u5faa\u73af\u795e\u7ecf\u7f51\u7edc\u6a21\u578b\u3002'),
    ('chinese_classical', '\u5b66\u800c\u65f6\u4e60\u4e4b\uff0c\u4e0d\u4ea6\u8bf4\u4e4e\uff1f'
     '\u6709\u670b\u81ea\u8fdc\u65b9\u6765\uff0c\u4e0d\u4ea6\u4e50\u4e4e\uff1f'),
    ('japanese', '\u3053\u308c\u306f\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059'
     '\u3002\u30ab\u30bf\u30ab\u30ca\u3068\u3072\u3089\u304c\u306a\u3068\u6f22\u5b57\u3002'),
    ('korean', '\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8\uc785\ub2c8\ub2e4. '
     '\uc548\ub155\ud558\uc138\uc694, \uc138\uacc4!'),
    ('arabic', '\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645\u060c '
     '\u0647\u0630\u0627 \u0646\u0635 \u0639\u0631\u0628\u064a.'),
    ('hebrew', '\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd'),
    ('russian', '\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! '
     '\u042d\u0442\u043e \u0442\u0435\u0441\u0442.'),
    ('greek', '\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u039a\u03cc\u03c3\u03bc\u03b5'),
    ('hindi', '\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e'),
    ('thai', '\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\u0e0a\u0e32\u0e27\u0e42\u0e25\u0e01'),
    ('german_accents', 'Gr\u00fc\u00dfe aus M\u00fcnchen: \u00e4\u00f6\u00fc \u00c4\u00d6\u00dc '
     '\u00df, na\u00efve caf\u00e9 fa\u00e7ade'),
    ('combining_marks', 'e\u0301 a\u0308 n\u0303 \u1e9b\u0323 Zalgo: Z\u0351\u036b\u0343a\u0310l'),
    ('emoji', 'I \u2764\ufe0f Python \U0001f40d and RWKV \U0001f680\U0001f680\U0001f680'),
    ('emoji_zwj_family', '\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466'),
    ('emoji_zwj_mixed', 'ok \U0001f3f3\ufe0f\u200d\U0001f308 \U0001f9d1\U0001f3fd\u200d\U0001f4bb'
     ' \U0001f1fa\U0001f1f8\U0001f1ef\U0001f1f5 done'),
    ('emoji_skin_tones', '\U0001f44d\U0001f3fb\U0001f44d\U0001f3fc\U0001f44d\U0001f3fd'
     '\U0001f44d\U0001f3fe\U0001f44d\U0001f3ff'),
    ('math_symbols', '\u2200x \u2208 \u211d: x\u00b2 \u2265 0 \u2227 \u221a4 = 2 \u2260 \u03c0'),
    ('rare_supplementary', '\U0001d54f\U0001d552\U0001d55d \U00020000\U0002a6d6 \U0001f9ec'),
    ('python_code', PYTHON_CODE),
    ('cpp_code', CPP_CODE),
    ('json', JSON_TEXT),
    ('html', '<div class="x"><p>Hello &amp; <b>bye</b></p></div>\n'),
    ('url', 'https://example.com/path/to/page?query=1&lang=en#section-2'),
    ('spaces_run_40', 'a' + ' ' * 40 + 'b'),
    ('spaces_run_1000', ' ' * 1000),
    ('spaces_odd', '   x     y       z                 w'),
    ('tabs', '\tone\t\ttwo\t\t\tthree\n\t\t\t\t'),
    ('newlines', 'line1\nline2\n\nline4\n\n\n\nline8\n'),
    ('crlf', 'first line\r\nsecond line\r\n\r\nthird\r\n'),
    ('cr_only', 'a\rb\r\rc'),
    ('mixed_whitespace', ' \t \n \r\n \x0b \x0c \u00a0 \u3000 end'),
    ('control_chars', '\x00\x01\x02\x1b[31mred\x1b[0m\x7f'),
    ('mixed_scripts', 'English \u4e2d\u6587 \u65e5\u672c\u8a9e \ud55c\uad6d\uc5b4 '
     '\u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u0420\u0443\u0441\u0441\u043a\u0438\u0439 '
     '\U0001f600 123'),
    ('long_word_repeated_letters', 'a' * 300),
    ('long_word', 'Pneumonoultramicroscopicsilicovolcanoconiosis'
     'Supercalifragilisticexpialidocious' * 3),
    ('long_token_prefix_backtrack', 'internationalizatio internationalizationx internationa'),
    ('backtrack_partial_prefixes', 'th the ther there therefor therefore theref thereforex'),
    ('backtrack_dashes', '-' * 7 + ' ' + '-' * 33 + ' ' + '=' * 65 + ' ' + '#' * 17),
    ('backtrack_cjk_prefix', '\u4e2d\u534e\u4eba\u6c11\u5171\u548c\u56fd '
     '\u4e2d\u534e\u4eba\u6c11\u5171 \u4e2d\u534e\u4eba'),
    ('unicode_escapes_tokens', '\u00a0\u00ad\u200b\u200c\u200d\u2028\u2029\ufeff\ufffd'),
    ('random_ascii', random_text(1, ''.join(chr(c) for c in range(32, 127)), 400)),
    ('random_bmp', random_text(2, [chr(c) for c in range(0xa0, 0xd800, 97)], 200)),
    ('random_astral', random_text(3, [chr(c) for c in range(0x10000, 0x10ffff, 4099)], 80)),
    ('five_kb_mixed', five_kb_mixed()),
]


def main():
  vocab = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_VOCAB
  tok = TRIE_TOKENIZER(vocab)
  cases = []
  for name, text in CASES:
    ids = tok.encode(text)
    assert tok.decodeBytes(ids) == text.encode('utf-8'), name
    cases.append({'name': name, 'text': text, 'ids': ids})
  # Texts whose ids split a character between two tokens.
  split = []
  for name, text in CASES:
    ids = tok.encode(text)
    if any(tok.idx2token[i] and not _is_utf8(tok.idx2token[i]) for i in ids):
      split.append(name)
  assert len(split) >= 3, split
  for case in cases:
    case['splits_a_character'] = case['name'] in split
  fnv = 0xcbf29ce484222325
  for i in range(65536):
    b = tok.idx2token.get(i, b'')
    for byte in len(b).to_bytes(4, 'little') + b:
      fnv = ((fnv ^ byte) * 0x100000001b3) & 0xffffffffffffffff
  sample = []
  with open(vocab, 'r', encoding='utf-8') as f:
    for line in f:
      i = int(line[:line.index(' ')])
      lit = line[line.index(' '):line.rindex(' ')].strip()
      if '\\' in lit or lit.startswith('b') or lit.startswith('"') or i % 97 == 0:
        sample.append({'id': i, 'hex': tok.idx2token[i].hex()})
  out = {
      'generator': 'tests/data/tokenizer/make_world_goldens.py',
      'reference': 'rwkv.rwkv_tokenizer.TRIE_TOKENIZER (rwkv %s)' % _rwkv_version(),
      'vocab': os.path.basename(vocab),
      'tokens_fnv1a64': '%016x' % fnv,
      'tokens': sample,
      'cases': cases,
  }
  path = os.path.join(HERE, 'world_goldens.json')
  with open(path, 'w', encoding='utf-8') as f:  # one case or token a line
    f.write('{\n')
    for key, value in out.items():
      if isinstance(value, list):
        f.write(' %s: [\n  %s\n ]%s\n' % (json.dumps(key), ',\n  '.join(
            json.dumps(v, ensure_ascii=True) for v in value), '' if key == 'cases' else ','))
      else:
        f.write(' %s: %s,\n' % (json.dumps(key), json.dumps(value, ensure_ascii=True)))
    f.write('}\n')
  print('wrote %s: %d cases (%d split a character: %s), %d sample tokens' %
        (path, len(cases), len(split), ', '.join(split), len(sample)))


def _is_utf8(b):
  try:
    b.decode('utf-8')
    return True
  except UnicodeDecodeError:
    return False


def _rwkv_version():
  try:
    from importlib.metadata import version
    return version('rwkv')
  except Exception:  # pylint: disable=broad-except
    return 'unknown'


if __name__ == '__main__':
  main()
