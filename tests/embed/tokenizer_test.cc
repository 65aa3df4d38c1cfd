#include "embed/tokenizer.h"

#include <boost/test/unit_test.hpp>

using namespace relate;
using namespace relate::embed;
using Tokens = std::vector<std::string>;

BOOST_AUTO_TEST_SUITE(TokenizerTest)

BOOST_AUTO_TEST_CASE(WordsAreLowercasedAndPunctuationDropped) {
  Tokenizer t;
  BOOST_TEST(t.Tokenize("The Cat sat, on the MAT!").value() ==
                 (Tokens{"the", "cat", "sat", "on", "the", "mat"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(UnicodeWordsAndCaseFollowUnicodeRules) {
  Tokenizer t;
  BOOST_TEST(t.Tokenize("Ångström ÉCOLE Straße ΣΟΦΊΑ").value() ==
                 (Tokens{"ångström", "école", "straße", "σοφία"}),
             boost::test_tools::per_element());
  // Contractions stay one word (UAX #29), hyphens split.
  BOOST_TEST(t.Tokenize("don't well-known").value() == (Tokens{"don't", "well", "known"}),
             boost::test_tools::per_element());
  // Ideographs are words too (ICU's dictionary keeps the two characters together).
  BOOST_TEST(t.Tokenize("東京 tokyo").value() == (Tokens{"東京", "tokyo"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(NumbersAreKeptOrDropped) {
  BOOST_TEST(Tokenizer().Tokenize("in 1984 pi was 3.14").value() ==
                 (Tokens{"in", "1984", "pi", "was", "3.14"}),
             boost::test_tools::per_element());
  BOOST_TEST(Tokenizer({.keep_numbers = false}).Tokenize("in 1984 pi was 3.14").value() ==
                 (Tokens{"in", "pi", "was"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(PunctuationCanBeKept) {
  Tokenizer t({.lowercase = false, .keep_punctuation = true});
  BOOST_TEST(t.Tokenize("Hi, you!").value() == (Tokens{"Hi", ",", "you", "!"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(InvalidUtf8IsReplacedOrRejectedWithItsOffset) {
  const std::string bad = std::string("good ") + "\xC3\x28" + " word \xFF";
  // \xC3 starts a sequence that "(" does not continue: U+FFFD, then "(" as punctuation.
  BOOST_TEST(Tokenizer().Tokenize(bad).value() == (Tokens{"good", "word"}),
             boost::test_tools::per_element());
  auto rejected = Tokenizer({.invalid_utf8 = TokenizerOptions::InvalidUtf8::kReject}).Tokenize(bad);
  BOOST_TEST(rejected.error().code() == Status::Code::kInvalidArgument);
  BOOST_TEST(std::string(rejected.error().message()).find("byte 5") != std::string::npos,
             rejected.error().message());
}

BOOST_AUTO_TEST_CASE(AnyByteSequenceIsHandled) {
  Tokenizer t;
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  for (int round = 0; round < 3; ++round) all += all;  // embedded NULs and every byte value
  auto tokens = t.Tokenize(all);
  BOOST_TEST_REQUIRE(tokens.has_value());
  for (const auto& token : tokens.value()) BOOST_TEST(!token.empty());
  BOOST_TEST(t.Tokenize("").value().empty());
  BOOST_TEST(t.Tokenize("  \t\n ").value().empty());
}

BOOST_AUTO_TEST_SUITE_END()
