#!/usr/bin/env python3
"""Writes gpt_neox_goldens.json: texts and their GPT-NeoX-20B token ids from
HF `tokenizers` (the reference), for tests/tokenizer/bpe_tokenizer_test.cc.

    pip install tokenizers      # the wheel needs no torch
    python3 tests/data/tokenizer/make_goldens.py [path/to/tokenizer.json]

The default tokenizer.json is ../shared/fixtures/tokenizers/gpt-neox-20b/.
Each case records `text`, `ids` (encode(text).ids, no special tokens added
by this file's post-processor) and `nfc` (unicodedata NFC of the text, what
decode(encode(text)) must give back).
"""

import json
import os
import random
import sys
import unicodedata

import tokenizers

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_JSON = os.path.join(HERE, '..', '..', '..', '..', 'shared', 'fixtures', 'tokenizers',
                            'gpt-neox-20b', 'tokenizer.json')

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

int main() {
    std::vector<int> xs = {1, 2, 3};
    return demo::Sum(xs) == 6 ? 0 : 1;
}
'''

PROSE = ('The quick brown fox jumps over the lazy dog. It was the best of times, it was '
         'the worst of times; it was the age of wisdom, it was the age of foolishness. ')


def five_kb_text():
  rng = random.Random(1234)
  words = ('state model token recurrent serve Mamba RWKV selective scan kernel latency '
           'throughput the a of and to in is that for with on as it by be at this').split()
  parts = []
  size = 0
  while size < 5000:
    n = rng.randint(5, 15)
    sentence = ' '.join(rng.choice(words) for _ in range(n)).capitalize()
    sentence += rng.choice(['. ', '! ', '? ', ', ', '.\n', ':\n\n', ' (%d) ' % rng.randint(0, 9999)])
    parts.append(sentence)
    size += len(sentence)
  return ''.join(parts)


CASES = [
    ('empty', ''),
    ('single_letter', 'a'),
    ('single_space', ' '),
    ('hello_world', 'Hello, world!'),
    ('prose', PROSE),
    ('prose_newlines', 'First paragraph.\n\nSecond paragraph, with a comma.\nThird line.'),
    ('python_code', PYTHON_CODE),
    ('cpp_code_tabs', CPP_CODE),
    ('json_snippet', '{"name": "recurrent-serve", "version": [0, 1, 0], "ok": true}'),
    ('url_email', 'See https://example.com/a/b?c=1&d=2#frag or mail admin@example.org.'),
    ('spaces_2', 'a  b'),
    ('spaces_3', 'a   b'),
    ('spaces_5', 'word     word'),
    ('spaces_10', 'x' + ' ' * 10 + 'y'),
    ('spaces_24', 'x' + ' ' * 24 + 'y'),
    ('spaces_25', 'x' + ' ' * 25 + 'y'),
    ('spaces_30', ' ' * 30),
    ('spaces_only_2', '  '),
    ('leading_spaces', '    indented line'),
    ('trailing_spaces', 'trailing   '),
    ('trailing_space_one', 'trailing '),
    ('tabs', 'a\tb\t\tc\t\t\td'),
    ('newlines', 'a\nb\n\nc\n\n\n\nd\n'),
    ('crlf', 'line one\r\nline two\r\n'),
    ('mixed_whitespace', 'a \t\n  b\n \n\tc  \n'),
    ('space_then_newline', 'end of line \nnext'),
    ('nbsp_and_ideographic_space', 'a\u00a0b\u3000c\u2009d'),
    ('vertical_ws', 'a\x0bb\x0cc\x85d\u2028e'),
    ('info_separators', 'a\x1cb\x1dc\x1ed\x1ff'),
    ('cjk_chinese', '我们正在构建一个推理服务器。你好，世界！'),
    ('cjk_japanese', 'これは日本語のテキストです。カタカナとひらがな、漢字。'),
    ('korean', '안녕하세요, 세계! 한국어 텍스트입니다.'),
    ('hangul_jamo_sequence', '\u1100\u1161\u11a8 \u1112\u1161\u11ab\u1100\u1173\u11af'),
    ('hangul_lv_plus_t', '\uac00\u11a8\uac00'),
    ('arabic', 'مرحبا بالعالم، هذا نص عربي مع تشكيل: كَتَبَ'),
    ('hebrew', 'שלום עולם'),
    ('hindi', 'नमस्ते दुनिया, यह हिंदी पाठ है।'),
    ('thai', 'สวัสดีชาวโลก ภาษาไทยไม่มีช่องว่างระหว่างคำ'),
    ('russian', 'Привет, мир! Это русский текст.'),
    ('greek', 'Γειά σου Κόσμε'),
    ('emoji_simple', 'I love 🍕 and 🚀!'),
    ('emoji_zwj_family', 'family: 👨\u200d👩\u200d👧\u200d👦 done'),
    ('emoji_skin_tones', '👍🏽 👋🏿 🧑🏻\u200d💻'),
    ('emoji_flags', '🇺🇸🇯🇵🇩🇪 flags'),
    ('combining_decomposed_e', 'caf' + 'e\u0301' + ' re\u0301sume\u0301'),
    ('combining_precomposed_e', 'café résumé'),
    ('combining_reorder', 'a\u0323\u0301 q\u0307\u0323 e\u0301\u0323'),
    ('combining_stack', 'Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319'),
    ('angstrom_ohm_singletons', '\u212b \u2126 \u212a'),
    ('composition_exclusion', '\u0958\u0959 \u2adc'),
    ('endoftext_inline', 'Hello<|endoftext|>World'),
    ('endoftext_spaces', 'end. <|endoftext|> start'),
    ('padding_inline', 'x<|padding|><|padding|>y'),
    ('endoftext_adjacent_spaces', 'a  <|endoftext|>  b'),
    ('partial_special', '<|endoftext| <|endof <|padding'),
    ('control_chars', 'nul\x00bell\x07esc\x1b[0mreset\x7f'),
    ('ansi_colors', '\x1b[31mred\x1b[0m \x1b[1;32mbold green\x1b[0m'),
    ('numbers', '0 1 12 123 1234 12345 3.14159 -42 1e10 1,000,000 ٣٤٥ ½ Ⅻ'),
    ('punctuation', '!!! ??? ... --- *** ((())) [[]] {{}} <<>> ;;; ::: @#$%^&*'),
    ('contractions', "it's we're they'll I'd you've I'm can't"),
    ('contractions_upper', "IT'S WE'RE THEY'LL I'D 'S 'RE"),
    ('apostrophes_misc', "'s's ''s rock'n'roll 'quoted' 'x"),
    ('curly_quotes', '“Hello,” she said — ‘quietly’…'),
    ('long_word', 'supercalifragilisticexpialidocious' * 8),
    ('long_repeat_a', 'a' * 1000),
    ('long_digits', '1234567890' * 30),
    ('long_punct', '=-' * 200),
    ('mixed_scripts', 'English, 中文, русский, العربية, हिन्दी, 한국어 in one line.'),
    ('math_symbols', '∀x∈ℝ: x² ≥ 0, ∑ᵢ aᵢ = ∫ f(x) dx'),
    ('private_use_and_astral', '\ue000 \U0001d400\U0001d401 \U00010348'),
    ('bom_and_zero_width', '\ufeffstart\u200bmid\u200cend\u200d'),
    ('five_kb', five_kb_text()),
]


def main():
  path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_JSON
  tok = tokenizers.Tokenizer.from_file(path)
  out = {
      'generator': 'tests/data/tokenizer/make_goldens.py',
      'tokenizers_version': tokenizers.__version__,
      'python_unicode_version': unicodedata.unidata_version,
      'cases': [],
  }
  names = set()
  for name, text in CASES:
    assert name not in names, name
    names.add(name)
    ids = tok.encode(text).ids
    out['cases'].append({
        'name': name,
        'text': text,
        'ids': ids,
        'nfc': unicodedata.normalize('NFC', text),
    })
  dest = os.path.join(HERE, 'gpt_neox_goldens.json')
  with open(dest, 'w', encoding='ascii') as f:
    json.dump(out, f, ensure_ascii=True, indent=1)
    f.write('\n')
  print('wrote %d cases to %s' % (len(out['cases']), dest))


if __name__ == '__main__':
  main()
