// The helpers util/ holds once: UTF-8, quoting, exact int/double comparison,
// integer encodings, bitsets.
#include <boost/test/unit_test.hpp>
#include <limits>
#include <random>
#include <set>

#include "util/bitset.h"
#include "util/coding.h"
#include "util/numeric.h"
#include "util/quote.h"
#include "util/utf8.h"

using namespace relate::util;

BOOST_AUTO_TEST_SUITE(Utf8Test)

BOOST_AUTO_TEST_CASE(WellFormedTextPasses) {
  BOOST_TEST(!InvalidUtf8At("").has_value());
  BOOST_TEST(!InvalidUtf8At("plain ascii").has_value());
  BOOST_TEST(!InvalidUtf8At("ключ 文書 \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF").has_value());
  BOOST_TEST(Utf8SequenceAt("\xE6\x96\x87", 0) == 3u);
  BOOST_TEST(Utf8SequenceAt("a", 0) == 1u);
}

BOOST_AUTO_TEST_CASE(EachKindOfMalformedSequenceIsFoundWhereItStarts) {
  struct Case {
    std::string text;
    size_t at;
  };
  const Case cases[] = {
      {"ab\x80", 2},                    // stray continuation byte
      {"a\xC0\xAF", 1},                 // overlong (0xC0 lead)
      {"a\xE0\x80\xAF", 1},             // overlong three-byte form
      {"xy\xED\xA0\x80", 2},            // surrogate U+D800
      {"\xF4\x90\x80\x80", 0},          // past U+10FFFF
      {"ok \xE6\x96", 3},               // cut short at the end
      {"\xC3(", 0},                     // lead byte without a continuation
      {std::string("a\0b\xFF", 4), 3},  // NUL is valid, 0xFF never is
  };
  for (const auto& c : cases) {
    const auto at = InvalidUtf8At(c.text);
    BOOST_TEST_REQUIRE(at.has_value(), Quote(c.text));
    BOOST_TEST(*at == c.at, Quote(c.text));
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(QuoteTest)

BOOST_AUTO_TEST_CASE(KeepsTextAndEscapesWhatWouldBreakALine) {
  BOOST_TEST(Quote("docs") == "\"docs\"");
  BOOST_TEST(Quote("文書") == "\"文書\"");
  BOOST_TEST(Quote("a\"b\\c\nd\x7f") == "\"a\\x22b\\x5cc\\x0ad\\x7f\"");
  BOOST_TEST(Quote("bad \xFF") == "\"bad \\xff\"");
}

BOOST_AUTO_TEST_CASE(CutsAtWholeSequences) {
  BOOST_TEST(Quote("abcdef", 3) == "\"abc...\"");
  BOOST_TEST(Quote("abc", 3) == "\"abc\"");
  // A three-byte character that would cross the limit is left out whole.
  BOOST_TEST(Quote("ab文", 4) == "\"ab...\"");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(NumericTest)

BOOST_AUTO_TEST_CASE(IntAndDoubleCompareByExactValue) {
  BOOST_TEST(CompareIntDouble(9007199254740993, 9007199254740992.0) == 1);
  BOOST_TEST(CompareIntDouble(9007199254740992, 9007199254740992.0) == 0);
  BOOST_TEST(CompareIntDouble(3, 3.5) == -1);
  BOOST_TEST(CompareIntDouble(-3, -3.5) == 1);
  BOOST_TEST(CompareIntDouble(std::numeric_limits<int64_t>::max(), 9223372036854775808.0) == -1);
  BOOST_TEST(CompareIntDouble(std::numeric_limits<int64_t>::min(), -9223372036854775808.0) == 0);
  BOOST_TEST(CompareIntDouble(std::numeric_limits<int64_t>::min(), -1e19) == 1);
  BOOST_TEST(CompareIntDouble(0, std::numeric_limits<double>::infinity()) == -1);
  BOOST_TEST(CompareIntDouble(0, -std::numeric_limits<double>::infinity()) == 1);
  // Against long double (64-bit mantissa on x86-64) where it is exact.
  std::mt19937_64 rng(7);
  for (int n = 0; n < 20000; ++n) {
    const auto i = static_cast<int64_t>(rng() >> (rng() % 64));
    const double d = static_cast<double>(static_cast<int64_t>(rng() >> (rng() % 64))) +
                     static_cast<double>(rng() % 3) * 0.5;
    const long double li = static_cast<long double>(i), ld = d;
    const int want = li < ld ? -1 : li > ld ? 1 : 0;
    BOOST_TEST_REQUIRE(CompareIntDouble(i, d) == want, i << " vs " << d);
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(CodingTest)

BOOST_AUTO_TEST_CASE(FixedWidthEncodingsRoundTripInTheirByteOrder) {
  std::string s;
  AppendLittleEndian32(&s, 0x01020304u);
  AppendBigEndian32(&s, 0x01020304u);
  BOOST_TEST(s == std::string("\x04\x03\x02\x01\x01\x02\x03\x04", 8));
  BOOST_TEST(ReadLittleEndian32(s.data()) == 0x01020304u);
  BOOST_TEST(ReadBigEndian32(s.data() + 4) == 0x01020304u);
  s.clear();
  AppendLittleEndian64(&s, 0xF1E2D3C4B5A69788ull);
  AppendBigEndian64(&s, 0xF1E2D3C4B5A69788ull);
  BOOST_TEST(ReadLittleEndian64(s.data()) == 0xF1E2D3C4B5A69788ull);
  BOOST_TEST(ReadBigEndian64(s.data() + 8) == 0xF1E2D3C4B5A69788ull);
  BOOST_TEST(static_cast<unsigned char>(s[0]) == 0x88u);
  BOOST_TEST(static_cast<unsigned char>(s[8]) == 0xF1u);
  // Big-endian keys sort as their numbers do.
  std::string a, b;
  AppendBigEndian64(&a, 255);
  AppendBigEndian64(&b, 256);
  BOOST_TEST((a < b));
}

BOOST_AUTO_TEST_CASE(VarintsRoundTripAndRefuseCutOrOverlongInput) {
  for (uint64_t v : {uint64_t{0}, uint64_t{127}, uint64_t{128}, uint64_t{300}, uint64_t{1} << 35,
                     std::numeric_limits<uint64_t>::max()}) {
    std::string s;
    AppendVarint(&s, v);
    const char* p = s.data();
    uint64_t got = 0;
    BOOST_TEST_REQUIRE(ReadVarint(&p, s.data() + s.size(), &got));
    BOOST_TEST(got == v);
    BOOST_TEST(p == s.data() + s.size());
    if (s.size() > 1) {
      p = s.data();
      BOOST_TEST(!ReadVarint(&p, s.data() + s.size() - 1, &got));
    }
  }
  const std::string overlong(10, '\xff');
  const char* p = overlong.data();
  uint64_t got = 0;
  BOOST_TEST(!ReadVarint(&p, overlong.data() + overlong.size(), &got));
  const std::string too_big = std::string(9, '\xff') + '\x02';  // bit 64
  p = too_big.data();
  BOOST_TEST(!ReadVarint(&p, too_big.data() + too_big.size(), &got));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(BitsetTest)

BOOST_AUTO_TEST_CASE(AgreesWithAStdSet) {
  Bitset bits;
  std::set<uint64_t> want;
  std::mt19937_64 rng(3);
  for (int n = 0; n < 5000; ++n) {
    const uint64_t i = rng() % 10000;
    if (rng() % 4 == 0) {
      bits.Clear(i);
      want.erase(i);
    } else {
      BOOST_TEST_REQUIRE(bits.Set(i) == want.insert(i).second);
    }
  }
  BOOST_TEST(bits.Count() == want.size());
  std::vector<uint64_t> seen;
  bits.ForEach([&](uint64_t i) { seen.push_back(i); });
  BOOST_TEST(seen == std::vector<uint64_t>(want.begin(), want.end()),
             boost::test_tools::per_element());
  for (uint64_t i = 0; i < 10100; ++i) BOOST_TEST_REQUIRE(bits.Test(i) == (want.count(i) == 1));
  BOOST_TEST(!bits.Test(uint64_t{1} << 40));
  bits.Clear(uint64_t{1} << 40);  // beyond the words: nothing
  const Bitset sized(130);
  BOOST_TEST(sized.word_count() == 3u);
  BOOST_TEST(sized.Count() == 0u);
}

BOOST_AUTO_TEST_CASE(CoverGrowsWithClearBitsAndFromWordsKeepsTheLayout) {
  Bitset bits;
  bits.Set(3);
  bits.Cover(200);
  BOOST_TEST(bits.word_count() == 4u);
  BOOST_TEST(bits.Count() == 1u);
  BOOST_TEST(bits.Test(3));
  bits.Cover(10);  // never shrinks
  BOOST_TEST(bits.word_count() == 4u);
  const Bitset back = Bitset::FromWords({bits.words(), bits.words() + bits.word_count()});
  BOOST_TEST(back.word_count() == 4u);
  BOOST_TEST(back.Test(3));
  BOOST_TEST(back.Count() == 1u);
  const Bitset raw = Bitset::FromWords({uint64_t{1} << 63, 1});
  BOOST_TEST(raw.Test(63));
  BOOST_TEST(raw.Test(64));
  BOOST_TEST(raw.Count() == 2u);
}

BOOST_AUTO_TEST_SUITE_END()
