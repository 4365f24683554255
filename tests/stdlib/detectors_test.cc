#include <gtest/gtest.h>
#include <re2/re2.h>
#include <re2/set.h>

#include "engine/core/limits.h"
#include "stdlib/builtins.h"
#include "stdlib/redact.h"

namespace tollgate::stdlib {
namespace {

int Id(std::string_view name) {
  int id = FindDetector(name);
  EXPECT_GE(id, 0) << name;
  return id;
}

// The validated matches of a detector in `text`, as strings.
std::vector<std::string> Found(std::string_view detector, std::string_view text) {
  std::vector<std::string> out;
  for (auto [b, e] : FindDetectorMatches(Id(detector), text)) {
    out.emplace_back(text.substr(b, e - b));
  }
  EXPECT_EQ(DetectorMatches(Id(detector), text), !out.empty()) << detector << ": " << text;
  return out;
}

using Strings = std::vector<std::string>;

TEST(DetectorsTest, TableCompilesUnderRe2) {
  const auto& t = Detectors();
  ASSERT_EQ(t.size(), 7u);
  RE2::Set set(RE2::Options(), RE2::UNANCHORED);
  for (const auto& d : t) {
    EXPECT_TRUE(d.name.starts_with("dlp.")) << d.name;
    EXPECT_FALSE(d.description.empty());
    RE2 re(re2::StringPiece(d.regex.data(), d.regex.size()));
    EXPECT_TRUE(re.ok()) << d.name << ": " << re.error();
    // Detectors obey the same program-size limit as policy patterns.
    EXPECT_LE(re.ProgramSize(), static_cast<int>(Limits().max_regex_program_size)) << d.name;
    std::string error;
    EXPECT_GE(set.Add(re2::StringPiece(d.regex.data(), d.regex.size()), &error), 0) << error;
  }
  EXPECT_TRUE(set.Compile());  // the VM fuses detectors into one set
  EXPECT_EQ(FindDetector("dlp.nope"), -1);
  auto names = DetectorNames();
  EXPECT_EQ(names.front(), "dlp.credit_card");
  EXPECT_EQ(names.size(), t.size());
}

TEST(DetectorsTest, Luhn) {
  EXPECT_TRUE(LuhnValid("4111111111111111"));
  EXPECT_TRUE(LuhnValid("4111 1111 1111 1111"));
  EXPECT_TRUE(LuhnValid("4111-1111-1111-1111"));
  EXPECT_TRUE(LuhnValid("79927398713"));
  EXPECT_FALSE(LuhnValid("4111111111111112"));
  EXPECT_FALSE(LuhnValid("79927398710"));
  EXPECT_FALSE(LuhnValid("4111x111111111111"));
  EXPECT_FALSE(LuhnValid(""));
  EXPECT_FALSE(LuhnValid("0"));
}

TEST(DetectorsTest, CreditCard) {
  EXPECT_EQ(Found("dlp.credit_card", "card 4111 1111 1111 1111 exp 12/29"),
            Strings{"4111 1111 1111 1111"});
  EXPECT_EQ(Found("dlp.credit_card", "5555-5555-5555-4444"), Strings{"5555-5555-5555-4444"});
  EXPECT_EQ(Found("dlp.credit_card", "amex 378282246310005."), Strings{"378282246310005"});
  EXPECT_EQ(Found("dlp.credit_card", "6011111111111117 and 4012888888881881"),
            (Strings{"6011111111111117", "4012888888881881"}));
  // A valid card glued to a preceding digit group is found inside the run.
  EXPECT_EQ(Found("dlp.credit_card", "ref 1234 4111 1111 1111 1111"),
            Strings{"4111 1111 1111 1111"});
  EXPECT_EQ(Found("dlp.credit_card", "ref 1234-4111111111111111"), Strings{"4111111111111111"});
  EXPECT_EQ(Found("dlp.credit_card", "ref 1234, 4111 1111 1111 1111"),
            Strings{"4111 1111 1111 1111"});
  // ... and so is a trailing group, and two cards in one run.
  EXPECT_EQ(Found("dlp.credit_card", "4111 1111 1111 1111 1234 end"),
            Strings{"4111 1111 1111 1111"});
  EXPECT_EQ(Found("dlp.credit_card", "4111 1111 1111 1111 5555 5555 5555 4444"),
            (Strings{"4111 1111 1111 1111", "5555 5555 5555 4444"}));
  EXPECT_EQ(Found("dlp.credit_card", "amex 3782 822463 10005 x"), Strings{"3782 822463 10005"});
  // Luhn failures, wrong lengths, non-card digit strings.
  EXPECT_TRUE(Found("dlp.credit_card", "4111 1111 1111 1112").empty());
  EXPECT_TRUE(Found("dlp.credit_card", "order 123456789012").empty());  // 12 digits
  EXPECT_TRUE(Found("dlp.credit_card", "00000000000000000").empty());  // Luhn-valid zeros
  EXPECT_TRUE(Found("dlp.credit_card", "call 2024-11-25 at 10").empty());
  EXPECT_TRUE(Found("dlp.credit_card", "x4111111111111111").empty());  // inside a word
}

// Numbers copied from web pages, PDFs and spreadsheets carry no-break and
// thin spaces between the groups: still cards, and the span covers them.
TEST(DetectorsTest, CreditCardWithNoBreakAndThinSpaces) {
  const std::string nbsp = "\xC2\xA0", figure = "\xE2\x80\x87", thin = "\xE2\x80\x89",
                    narrow = "\xE2\x80\xAF";
  for (const std::string& sp : {nbsp, figure, thin, narrow}) {
    const std::string card = "4111" + sp + "1111" + sp + "1111" + sp + "1111";
    EXPECT_EQ(Found("dlp.credit_card", "card " + card + " exp"), Strings{card});
  }
  const std::string mixed = "5555" + nbsp + "5555-5555" + narrow + "4444";
  EXPECT_EQ(Found("dlp.credit_card", "pay " + mixed + "."), Strings{mixed});
  // Other characters still split a number; Luhn still decides.
  EXPECT_TRUE(Found("dlp.credit_card", "4111\xC3\xA9" "1111 1111 1111").empty());
  EXPECT_TRUE(Found("dlp.credit_card", "4111" + nbsp + nbsp + "1111 1111 1111").empty());
  EXPECT_TRUE(Found("dlp.credit_card", "4111" + nbsp + "1111" + nbsp + "1111" + nbsp + "1112").empty());
  // Social security numbers too.
  EXPECT_EQ(Found("dlp.us_ssn", "ssn 123" + nbsp + "45" + nbsp + "6789."), Strings{"123" + nbsp + "45" + nbsp + "6789"});
  // One number, one separator: a dash and a thin space do not make an SSN.
  EXPECT_TRUE(Found("dlp.us_ssn", "ssn 123-45" + thin + "6789").empty());
  EXPECT_TRUE(Found("dlp.us_ssn", "ssn 123" + nbsp + nbsp + "45 6789").empty());
}

// The separators of text copied from word processors, PDFs, spreadsheets
// and CJK input methods (docs/language.md, "Detectors"). Every one of these
// was missed before; the span covers the separators, so that redaction
// removes the whole number.
const std::vector<std::string>& WideSeparators() {
  static const std::vector<std::string> seps = {
      "\xE2\x80\x93",              // U+2013 en dash (Word's auto-format)
      "\xE2\x80\x91",              // U+2011 non-breaking hyphen
      "\xE2\x80\x92",              // U+2012 figure dash
      "\xE2\x80\x90",              // U+2010 hyphen
      "\xE2\x80\x94",              // U+2014 em dash
      "\xE2\x88\x92",              // U+2212 minus sign
      "\xEF\xBC\x8D",              // U+FF0D full-width hyphen-minus
      ".", "\t", "  ", " - ", " \xE2\x80\x93 ", " .",
      "\xE3\x80\x80",              // U+3000 ideographic space
      "\xE2\x80\x80", "\xE2\x80\x81", "\xE2\x80\x82", "\xE2\x80\x83", "\xE2\x80\x84",
      "\xE2\x80\x85", "\xE2\x80\x86", "\xE2\x80\x88", "\xE2\x80\x8A",  // U+2000..U+200A
      "\xE2\x81\x9F",              // U+205F medium mathematical space
      "\xE2\x80\x8B",              // U+200B zero-width space
      "\xE2\x80\x8C",              // U+200C zero-width non-joiner
      "\xE2\x80\x8D",              // U+200D zero-width joiner
      "\xE2\x81\xA0",              // U+2060 word joiner
      "\xEF\xBB\xBF",              // U+FEFF zero-width no-break space
      " \xE2\x80\x8B",             // a space and a zero-width space
  };
  return seps;
}

TEST(DetectorsTest, CreditCardWithWideSeparators) {
  for (const std::string& sp : WideSeparators()) {
    const std::string card = "4111" + sp + "1111" + sp + "1111" + sp + "1111";
    EXPECT_EQ(Found("dlp.credit_card", "card " + card + " exp"), Strings{card}) << sp;
    const std::string amex = "3782" + sp + "822463" + sp + "10005";
    EXPECT_EQ(Found("dlp.credit_card", "amex " + amex + "!"), Strings{amex}) << sp;
    // Luhn still decides.
    EXPECT_TRUE(Found("dlp.credit_card", "4111" + sp + "1111" + sp + "1111" + sp + "1112").empty())
        << sp;
  }
  // A newline: a number wrapped once.
  EXPECT_EQ(Found("dlp.credit_card", "card 4111 1111\n1111 1111 exp"),
            Strings{"4111 1111\n1111 1111"});
  EXPECT_EQ(Found("dlp.credit_card", "card 4111-1111-1111-\r\n1111."),
            Strings{"4111-1111-1111-\r\n1111"});
}

TEST(DetectorsTest, CreditCardInFullWidthDigits) {
  // U+FF10..U+FF19, as typed with a CJK input method.
  const auto fw = [](std::string_view ascii) {
    std::string out;
    for (char c : ascii) {
      if (c >= '0' && c <= '9') {
        out += "\xEF\xBC";
        out += static_cast<char>(0x90 + (c - '0'));
      } else {
        out += c;
      }
    }
    return out;
  };
  for (const char* card : {"4111111111111111", "4111 1111 1111 1111", "5555-5555-5555-4444"}) {
    EXPECT_EQ(Found("dlp.credit_card", "カード" + fw(card) + "です"), Strings{fw(card)}) << card;
  }
  const std::string ideographic = "\xE3\x80\x80", fw_hyphen = "\xEF\xBC\x8D";
  const std::string a = fw("4111") + ideographic + fw("1111") + ideographic + fw("1111") +
                        ideographic + fw("1111");
  EXPECT_EQ(Found("dlp.credit_card", "番号 " + a + "。"), Strings{a});
  const std::string b = fw("4111") + fw_hyphen + fw("1111") + fw_hyphen + fw("1111") + fw_hyphen +
                        fw("1111");
  EXPECT_EQ(Found("dlp.credit_card", b), Strings{b});
  // Mixed ASCII and full-width digits are one number.
  EXPECT_EQ(Found("dlp.credit_card", "4111 " + fw("1111") + " 1111 1111"),
            Strings{"4111 " + fw("1111") + " 1111 1111"});
  EXPECT_TRUE(Found("dlp.credit_card", fw("4111111111111112")).empty());
  EXPECT_EQ(Found("dlp.us_ssn", "番号" + fw("123-45-6789") + "。"), Strings{fw("123-45-6789")});
}

TEST(DetectorsTest, UsSsnWithWideSeparators) {
  for (const std::string& sp : WideSeparators()) {
    const std::string ssn = "123" + sp + "45" + sp + "6789";
    EXPECT_EQ(Found("dlp.us_ssn", "ssn " + ssn + "."), Strings{ssn}) << sp;
    // The SSA's rules still apply.
    EXPECT_TRUE(Found("dlp.us_ssn", "ssn 666" + sp + "45" + sp + "6789").empty()) << sp;
  }
}

// The wider separators must not turn other numbers into cards or SSNs.
TEST(DetectorsTest, WideSeparatorsKeepOtherNumbersOut) {
  for (const char* text : {
           // Dates, date ranges, times.
           "on 2024.01.15", "on 15.01.2024", "from 2024-01-15 \xE2\x80\x93 2024-01-16",
           "2024.01.15 2024.02.15", "15.01.2024 16.01.2024 17.01.2024",
           "at 2024-01-15\t10:30", "2024.01.15\n2024.01.16\n2024.01.17",
           // Versions and build numbers.
           "v123.45.6789", "release 10.123.45.6789", "1.123.45.6789", "123.45.6789.1",
           "tollgate 2024.1.15.1234 and 3.14.159",
           // Phone numbers and lists of them.
           "call 415.555.2671", "415.555.2671 or 415.555.2672",
           "+1 415 555 2671\n+1 415 555 2672",
           // IP addresses.
           "hosts 10.0.0.1 10.0.0.2", "192.168.100.200 192.168.100.201",
           "10.10.10.10.10.10.10.10",
           // Decimal numbers: e to 15 places is Luhn-valid as 16 digits.
           "e 2.718281828459045",
           // A column of numbers: each line is a value, not a card group.
           "4111\n1111\n1111\n1111", "1200\n1350\n1400\n1575\n1650",
           // Two dash-like characters are no separator; mixed separators.
           "4111--1111--1111--1111", "4111.1111 1111.1111", "123.45-6789", "123 45\xE2\x80\x93" "6789",
           // An SSN shape across lines or columns.
           "123\n45\n6789", "123 45\n6789"}) {
    EXPECT_TRUE(Found("dlp.credit_card", text).empty()) << text;
    EXPECT_TRUE(Found("dlp.us_ssn", text).empty()) << text;
  }
  // The pieces that are cards on their own still are.
  EXPECT_EQ(Found("dlp.credit_card", "4111.1111.1111.1111"), Strings{"4111.1111.1111.1111"});
  EXPECT_EQ(Found("dlp.credit_card", "step 1.4111111111111111"), Strings{"4111111111111111"});
  EXPECT_EQ(Found("dlp.us_ssn", "ssn 123.45.6789."), Strings{"123.45.6789"});
}

// Redaction removes the whole number, separators included.
TEST(DetectorsTest, RedactionRemovesWideSeparatedNumbers) {
  std::string error;
  auto r = Redactor::Build({{"dlp.credit_card", "[CARD]"}, {"dlp.us_ssn", "[SSN]"}}, &error);
  ASSERT_TRUE(r) << error;
  int n = 0;
  EXPECT_EQ(r->Apply("card 4111\xE2\x80\x93" "1111\xE2\x80\x93" "1111\xE2\x80\x93" "1111, ssn "
                     "123\xE3\x80\x80" "45\xE3\x80\x80" "6789, amex 3782 - 822463 - 10005.",
                     &n),
            "card [CARD], ssn [SSN], amex [CARD].");
  EXPECT_EQ(n, 3);
}

TEST(DetectorsTest, Email) {
  EXPECT_EQ(Found("dlp.email", "mail bob@example.com now"), Strings{"bob@example.com"});
  EXPECT_EQ(Found("dlp.email", "<first.last+tag@sub.example.co.uk>"),
            Strings{"first.last+tag@sub.example.co.uk"});
  EXPECT_TRUE(Found("dlp.email", "bob@localhost").empty());
  EXPECT_TRUE(Found("dlp.email", "@example.com").empty());
  EXPECT_TRUE(Found("dlp.email", "bob at example dot com").empty());
  EXPECT_TRUE(Found("dlp.email", "bob@-example.com").empty());
  // `_` is a local-part character; a TLD ends at a word boundary.
  EXPECT_EQ(Found("dlp.email", "to john_doe@example.com."), Strings{"john_doe@example.com"});
  EXPECT_EQ(Found("dlp.email", "com2 bob@example.com2").size(), 0u);
}

// Internationalised addresses (RFC 6531 local parts, IDNA domains) and
// invisible characters inside an address; every one was missed or cut
// before. The span is the address as written.
TEST(DetectorsTest, EmailInternationalAndInvisible) {
  for (const char* address :
       {"j\xC3\xB6hn@b\xC3\xBC" "cher.de", "\xC3\x96sten@exempel.se", "jos\xC3\xA9@correo.es",
        "\xD0\xB8\xD0\xB2\xD0\xB0\xD0\xBD@\xD0\xBF\xD1\x80\xD0\xB8\xD0\xBC\xD0\xB5\xD1\x80."
        "\xD1\x80\xD1\x84",                                          // иван@пример.рф
        "\xCE\xB1\xCE\xB2@\xCE\xB3\xCE\xB4.\xCE\xB5\xCE\xBB",      // αβ@γδ.ελ
        "nguy\xE1\xBB\x85n@vi\xE1\xBB\x87t.vn",                       // nguyễn@việt.vn
        "bob\xE2\x80\x8B@example.com", "b\xC2\xAD" "ob@exam\xE2\x80\x8C" "ple.com",
        "bob@example\xE2\x80\x8B.com", "bob@example.c\xE2\x81\xA0om",
        "x@y.caf\xC3\xA9"}) {
    EXPECT_EQ(Found("dlp.email", std::string("mail ") + address + " now"), Strings{address})
        << address;
    EXPECT_EQ(Found("dlp.email", std::string("(") + address + ")."), Strings{address}) << address;
  }
  // Scripts written without spaces are not address letters: the ASCII
  // address in Japanese or Chinese text is found without its neighbours.
  EXPECT_EQ(Found("dlp.email", "\xE3\x83\xA1\xE3\x83\xBC\xE3\x83\xAB\xE3\x81\xAF"
                               "bob@example.com\xE3\x81\xA7\xE3\x81\x99"),
            Strings{"bob@example.com"});
  // Invisible characters are not an address by themselves.
  EXPECT_TRUE(Found("dlp.email", "\xE2\x80\x8B@example.com").empty());
  EXPECT_TRUE(Found("dlp.email", "bob@\xE2\x80\x8B.com").empty());
}

TEST(DetectorsTest, Phone) {
  for (const char* p : {"+1 415 555 2671", "+14155552671", "+1 (415) 555-2671",
                        "(415) 555-2671", "415-555-2671", "415.555.2671", "+44 20 7946 0958",
                        "+49 30 12345678", "030 1234567", "06 12 34 56 78", "020 7946 0958"}) {
    std::string text = std::string("call ") + p + " today";
    EXPECT_FALSE(Found("dlp.phone", text).empty()) << p;
  }
  EXPECT_EQ(Found("dlp.phone", "tel: +14155552671."), Strings{"+14155552671"});
  EXPECT_EQ(Found("dlp.phone", "ring 0800 123 4567"), Strings{"0800 123 4567"});
  EXPECT_EQ(Found("dlp.phone", "ruf 0049 30 1234 5678 an"), Strings{"0049 30 1234 5678"});
  for (const char* n : {"order 12345", "2024-11-25", "version 1.2.3", "port 8080", "555-1234",
                        "+1 234", "id 4155552671", "01.02.2024", "pi 3.14159", "10.0.0.1",
                        "+1234567890123456789"}) {
    EXPECT_TRUE(Found("dlp.phone", n).empty()) << n;
  }
}

TEST(DetectorsTest, PhoneRejectsOtherNumberShapes) {
  for (const char* n : {
           // AAA-GG-SSSS is an SSN shape, whatever its validity as an SSN.
           "ssn 078-05-1120", "ssn 000-12-3456", "ssn 012 34 5678",
           // Dates and timestamps.
           "on 2026-11-25", "at 2026-11-25T08:30:00Z", "at 2026-11-25 08:30:00 +0100",
           "am 05.11.2026 08:30", "on 05/11/2026 0830", "on 01-12-1999 10",
           // Version numbers.
           "v0.12.345", "10.0.19045.1234", "release 2024.01.15.1234",
           // Card and IBAN digit runs.
           "card 5500 0000 0000 0004", "iban DE89 3704 0044 0532 0130 00",
           "iban ES91 2100 0418 4502 0005 1332",
           // Zero-padded dotted quad.
           "host 010.001.002.003"}) {
    EXPECT_TRUE(Found("dlp.phone", n).empty()) << n;
  }
  // International numbers are not second-guessed.
  EXPECT_EQ(Found("dlp.phone", "+1 078-05-1120"), Strings{"+1 078-05-1120"});
}

TEST(DetectorsTest, UsSsn) {
  EXPECT_EQ(Found("dlp.us_ssn", "ssn 123-45-6789."), Strings{"123-45-6789"});
  EXPECT_EQ(Found("dlp.us_ssn", "ssn 123 45 6789"), Strings{"123 45 6789"});
  for (const char* bad : {"000-12-3456", "666-12-3456", "912-34-5678", "123-00-4567",
                          "123-45-0000", "078-05-1120", "123456789", "1234-56-7890",
                          "123-45-67890"}) {
    EXPECT_TRUE(Found("dlp.us_ssn", bad).empty()) << bad;
  }
}

TEST(DetectorsTest, Iban) {
  EXPECT_TRUE(IbanValid("DE89370400440532013000"));
  EXPECT_TRUE(IbanValid("DE89 3704 0044 0532 0130 00"));
  EXPECT_TRUE(IbanValid("gb82 west 1234 5698 7654 32"));
  EXPECT_TRUE(IbanValid("NL91ABNA0417164300"));
  EXPECT_TRUE(IbanValid("FR1420041010050500013M02606"));
  EXPECT_TRUE(IbanValid("CH9300762011623852957"));
  EXPECT_FALSE(IbanValid("DE89370400440532013001"));   // checksum
  EXPECT_FALSE(IbanValid("DE8937040044053201300"));    // length for DE
  EXPECT_FALSE(IbanValid("ZZ89370400440532013000"));   // unknown country
  EXPECT_FALSE(IbanValid("DE89-3704-0044-0532-0130-00"));
  EXPECT_FALSE(IbanValid(""));

  EXPECT_EQ(Found("dlp.iban", "pay to DE89 3704 0044 0532 0130 00 please"),
            Strings{"DE89 3704 0044 0532 0130 00"});
  EXPECT_EQ(Found("dlp.iban", "iban GB82WEST12345698765432."), Strings{"GB82WEST12345698765432"});
  EXPECT_EQ(Found("dlp.iban", "FR14 2004 1010 0505 0001 3M02 606 OK"),
            Strings{"FR14 2004 1010 0505 0001 3M02 606"});
  EXPECT_TRUE(Found("dlp.iban", "DE89 3704 0044 0532 0130 01").empty());
  EXPECT_TRUE(Found("dlp.iban", "AB12 CDEF GHIJ KLMN").empty());
  // IBANs whose length after the country prefix is a multiple of 4 are
  // followed by something the regex takes as one more group; the IBAN with
  // the country's length is still found, without the following word.
  EXPECT_EQ(Found("dlp.iban", "ES91 2100 0418 4502 0005 1332 ABCD"),
            Strings{"ES91 2100 0418 4502 0005 1332"});
  EXPECT_EQ(Found("dlp.iban", "to BE68 5390 0754 7034 OK"), Strings{"BE68 5390 0754 7034"});
  EXPECT_EQ(Found("dlp.iban", "BE68 5390 0754 7034 ABCD EF"), Strings{"BE68 5390 0754 7034"});
  // Glued without a space it is one longer token, not an IBAN.
  EXPECT_TRUE(Found("dlp.iban", "BE68539007547034ABCD").empty());
  EXPECT_TRUE(Found("dlp.iban", "BE68 5390 0754 7035 ABCD").empty());  // checksum
}

// IBANs as people write and paste them: any case, and the groups joined
// like card numbers (docs/language.md, "Card, SSN and IBAN separators").
// Every spelling here was missed before; the span is the IBAN as written.
TEST(DetectorsTest, IbanInAnyCaseWithCardSeparators) {
  const std::string nbsp = "\xC2\xA0", thin = "\xE2\x80\x89", narrow = "\xE2\x80\xAF";
  const auto grouped = [](const std::string& sep, const std::string& prefix = "DE89") {
    return prefix + sep + "3704" + sep + "0044" + sep + "0532" + sep + "0130" + sep + "00";
  };
  for (const std::string& iban :
       {std::string("de89 3704 0044 0532 0130 00"), std::string("De89 3704 0044 0532 0130 00"),
        grouped("-"), grouped(nbsp), grouped(thin), grouped(narrow),
        std::string("DE89  3704 0044 0532 0130 00"), std::string("gb82 west 1234 5698 7654 32"),
        std::string("Gb82-West-1234-5698-7654-32"), std::string("de89370400440532013000")}) {
    EXPECT_EQ(Found("dlp.iban", "wire it to " + iban + " today"), Strings{iban}) << iban;
    // The checksum still decides, in any case.
    std::string bad = iban;
    bad.back() = bad.back() == '0' ? '1' : '3';
    EXPECT_TRUE(Found("dlp.iban", "wire it to " + bad + " today").empty()) << bad;
  }
  for (const std::string& sp : WideSeparators()) {
    const std::string iban = grouped(sp);
    EXPECT_EQ(Found("dlp.iban", "iban: " + iban + "."), Strings{iban}) << sp;
  }
  // A wrapped IBAN; a following short word is left out, whatever the separator.
  EXPECT_EQ(Found("dlp.iban", "DE89 3704 0044\n0532 0130 00"), Strings{"DE89 3704 0044\n0532 0130 00"});
  EXPECT_EQ(Found("dlp.iban", "es91-2100-0418-4502-0005-1332 ok"),
            Strings{"es91-2100-0418-4502-0005-1332"});
  // The card rules: one dash-like character a gap, one line break.
  EXPECT_TRUE(Found("dlp.iban", grouped("--")).empty());
  EXPECT_EQ(Found("dlp.iban", grouped("-") + "--AB12"), Strings{grouped("-")});
  EXPECT_TRUE(Found("dlp.iban", "DE89\n3704\n0044\n0532\n0130\n00").empty());
  // Other characters still split it; the length is the country's.
  EXPECT_TRUE(Found("dlp.iban", grouped("/")).empty());
  EXPECT_TRUE(Found("dlp.iban", "de89 3704 0044 0532 0130 0").empty());
}

// The invisible characters (soft hyphen, zero-width space/non-joiner/joiner,
// LRM, RLM, word joiner, BOM) are read through inside the digit groups of
// cards, SSNs and IBANs and as or beside a separator; the span covers them.
// Every one of these was missed before.
TEST(DetectorsTest, InvisibleCharactersAreReadThrough) {
  const std::vector<std::string> invisible = {"\xC2\xAD",     "\xE2\x80\x8B", "\xE2\x80\x8C",
                                              "\xE2\x80\x8D", "\xE2\x80\x8E", "\xE2\x80\x8F",
                                              "\xE2\x81\xA0", "\xEF\xBB\xBF"};
  for (const std::string& z : invisible) {
    for (const std::string& card :
         {"41" + z + "11 1111 1111 1111", "4111" + z + "1111" + z + "1111" + z + "1111",
          "4111 1111 11" + z + "11 1111", "4111-1" + z + "111-1111-1111", "4111 " + z + "1111 1111 1111",
          "5555" + z + "5555" + z + "5555" + z + "4444", "3782 8224" + z + "63 10005"}) {
      EXPECT_EQ(Found("dlp.credit_card", "card " + card + " exp"), Strings{card}) << card;
    }
    EXPECT_TRUE(Found("dlp.credit_card", "card 41" + z + "11 1111 1111 1112").empty());
    for (const std::string& ssn : {"12" + z + "3-45-6789", "123-4" + z + "5-6789",
                                   "123-45-678" + z + "9", "123 45 6" + z + "789",
                                   "123" + z + "-45-" + z + "6789"}) {
      EXPECT_EQ(Found("dlp.us_ssn", "ssn " + ssn + "."), Strings{ssn}) << ssn;
    }
    EXPECT_TRUE(Found("dlp.us_ssn", "ssn 66" + z + "6-45-6789.").empty());
    // Read through, not a separator: two groups, not three.
    EXPECT_TRUE(Found("dlp.us_ssn", "ssn 12" + z + "3-456789.").empty());
    for (const std::string& iban :
         {"DE89 37" + z + "04 0044 0532 0130 00", "D" + z + "E89 3704 0044 0532 0130 00",
          "DE89" + z + "3704" + z + "0044" + z + "0532" + z + "0130" + z + "00",
          "de89 3704 0044 0532 0130 0" + z + "0", "DE89 3704 " + z + "0044 0532 0130 00"}) {
      EXPECT_EQ(Found("dlp.iban", "to " + iban + " now"), Strings{iban}) << iban;
    }
    EXPECT_TRUE(Found("dlp.iban", "to DE89 37" + z + "04 0044 0532 0130 01 now").empty());
  }
  // Not at the edges: the span starts and ends at a digit.
  EXPECT_EQ(Found("dlp.credit_card", "\xE2\x80\x8B" "4111111111111111" "\xE2\x80\x8B"),
            Strings{"4111111111111111"});
}

// Redaction removes every spelling whole.
TEST(DetectorsTest, RedactionRemovesIbanAndInvisibleSpellings) {
  std::string error;
  auto r = Redactor::Build({{"dlp.credit_card", "[CARD]"}, {"dlp.iban", "[IBAN]"},
                            {"dlp.email", "[EMAIL]"}},
                           &error);
  ASSERT_TRUE(r) << error;
  int n = 0;
  EXPECT_EQ(r->Apply("a de89 3704 0044 0532 0130 00, b DE89-3704-0044-0532-0130-00, c "
                     "DE89\xE2\x80\xAF" "3704\xE2\x80\xAF" "0044\xE2\x80\xAF" "0532\xE2\x80\xAF"
                     "0130\xE2\x80\xAF" "00, d 4111\xC2\xAD" "1111\xC2\xAD" "1111\xC2\xAD" "1111, e "
                     "41\xE2\x80\x8B" "11 1111 1111 1111, f bob\xE2\x80\x8B@example.com, g "
                     "j\xC3\xB6hn@b\xC3\xBC" "cher.de.",
                     &n),
            "a [IBAN], b [IBAN], c [IBAN], d [CARD], e [CARD], f [EMAIL], g [EMAIL].");
  EXPECT_EQ(n, 7);
}

// JSON string escapes are read through (engine/scan/escapes.h): a tool
// call's arguments as Python's json.dumps writes them. The span is the
// escaped text, from the first escape or digit to the last.
TEST(DetectorsTest, JsonStringEscapesAreReadThrough) {
  EXPECT_EQ(Found("dlp.credit_card", R"({"card": "4111\u00a01111\u00a01111\u00a01111"})"),
            Strings{R"(4111\u00a01111\u00a01111\u00a01111)"});
  EXPECT_EQ(Found("dlp.email", R"({"email": "j\u00f6hn@b\u00fccher.de"})"),
            Strings{R"(j\u00f6hn@b\u00fccher.de)"});
  EXPECT_EQ(Found("dlp.iban", R"({"iban": "DE89\u00a03704\u00a00044\u00a00532\u00a00130\u00a000"})"),
            Strings{R"(DE89\u00a03704\u00a00044\u00a00532\u00a00130\u00a000)"});
  EXPECT_EQ(Found("dlp.us_ssn", R"("ssn": "123\u002d45\u002d6789")"), Strings{R"(123\u002d45\u002d6789)"});
  // Full-width digits, every one an escape: the span starts and ends with one.
  const std::string wide = R"(\uff14\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11\uff11)";
  EXPECT_EQ(Found("dlp.credit_card", R"({"card": ")" + wide + R"("})"), Strings{wide});
  // Every digit escaped, upper-case hex, and a line break escaped as `\n`.
  EXPECT_EQ(Found("dlp.credit_card", R"(\u0034\u0031\u0031\u0031 1111\n1111 1111!)"),
            Strings{R"(\u0034\u0031\u0031\u0031 1111\n1111 1111)"});
  // JSON inside a JSON string: escaped twice.
  EXPECT_EQ(Found("dlp.credit_card", R"({"result": "{\"card\": \"4111\\u00a01111\\u00a01111\\u00a01111\"}"})"),
            Strings{R"(4111\\u00a01111\\u00a01111\\u00a01111)"});
  // An escape that is no JSON escape is no separator; the validators still
  // decide (a Luhn-invalid card is no card however it is spelled).
  EXPECT_EQ(Found("dlp.credit_card", R"(4111\x00a01111\x00a01111\x00a01111)"), Strings{});
  EXPECT_EQ(Found("dlp.credit_card", R"(4111\u00a01111\u00a01111\u00a01112)"), Strings{});
  // Found both as written and in the reading: one span.
  EXPECT_EQ(Found("dlp.credit_card", R"(4111 1111 1111 1111 \n)"), Strings{"4111 1111 1111 1111"});
  // The PEM block with literal `\n` is found whole as before.
  const std::string pem = R"(-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----)";
  EXPECT_EQ(Found("dlp.api_key", R"({"k": ")" + pem + R"(\n"})"), Strings{pem});
}

// Redacting the raw escaped span keeps a JSON text JSON.
TEST(DetectorsTest, RedactionReplacesTheEscapedSpelling) {
  std::string error;
  auto r = Redactor::Build({{"dlp.credit_card", "[CARD]"}, {"dlp.iban", "[IBAN]"},
                            {"dlp.email", "[EMAIL]"}, {R"(secret-\d+)", "[S]"}},
                           &error);
  ASSERT_TRUE(r) << error;
  int n = 0;
  EXPECT_EQ(r->Apply(R"({"card": "4111\u00a01111\u00a01111\u00a01111", "email": "j\u00f6hn@b\u00fccher.de", )"
                     R"("iban": "DE89\u00a03704\u00a00044\u00a00532\u00a00130\u00a000", "s": "secret-\u0034\u0032"})",
                     &n),
            R"({"card": "[CARD]", "email": "[EMAIL]", "iban": "[IBAN]", "s": "[S]"})");
  EXPECT_EQ(n, 4);
}

TEST(DetectorsTest, Ipv4) {
  EXPECT_EQ(Found("dlp.ipv4", "from 192.168.1.1 and 8.8.8.8"),
            (Strings{"192.168.1.1", "8.8.8.8"}));
  EXPECT_EQ(Found("dlp.ipv4", "10.0.0.255"), Strings{"10.0.0.255"});
  EXPECT_EQ(Found("dlp.ipv4", "255.255.255.255"), Strings{"255.255.255.255"});
  for (const char* bad : {"256.1.1.1", "1.1.1.256", "1.2.3", "192.168.01.1", "version 1.2.3a",
                          "1.2.3.4.5", "0.1.2.3.4", "oid 1.3.6.1.4.1.311", "a1.2.3.4",
                          "1.2.3.4a", "1.2.3.4567"}) {
    EXPECT_TRUE(Found("dlp.ipv4", bad).empty()) << bad;
  }
  // A trailing sentence dot or other punctuation is not part of a longer run.
  EXPECT_EQ(Found("dlp.ipv4", "host 10.1.2.3. next 4.4.4.4:80, 1.2.3.4.5 and 0.0.0.0"),
            (Strings{"10.1.2.3", "4.4.4.4", "0.0.0.0"}));
  EXPECT_EQ(Found("dlp.ipv4", "version 1.2.3.4-beta"), Strings{"1.2.3.4"});
}

TEST(DetectorsTest, ApiKey) {
  const std::string openai = "sk-proj-Ab3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5zA7";
  const std::string anthropic = "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8Ba7";
  const std::string github = "ghp_" + std::string("a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8");
  for (const std::string& key :
       {openai, anthropic, std::string("sk-Ab3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5zA7bC9dE1fG3"),
        std::string("AKIAIOSFODNN7EXAMPLE"), std::string("ASIAY34FZKBOKMUTVV7A"), github,
        std::string("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"),
        std::string("xoxb-1234567890-abcdefghij"),
        std::string("AIzaSyD-1234567890abcdefghijklmnopqrstu"),
        std::string("sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
        std::string("rk_live_4eC39HqLyjWDarjtT1zdp7dc"),
        std::string("-----BEGIN RSA PRIVATE KEY-----"),
        std::string("-----BEGIN OPENSSH PRIVATE KEY-----"),
        std::string("-----BEGIN PRIVATE KEY-----")}) {
    EXPECT_EQ(Found("dlp.api_key", "key=" + key + "\n"), Strings{key}) << key;
  }
  for (const char* bad : {"sk-this-is-not-a-real-key-at-all", "task-1234567890abcdefghijklmnop",
                          "-----BEGIN PUBLIC KEY-----", "AKIA1234", "ghp_short1",
                          "sk_test_4eC39HqLyjWDarjtT1zdp7dc"}) {
    EXPECT_TRUE(Found("dlp.api_key", bad).empty()) << bad;
  }
}

// A private key is the block, not its first line: redacting only the BEGIN
// line sent the key material upstream.
TEST(DetectorsTest, PrivateKeyBlocksAreFoundWhole) {
  const std::string pkcs8 =
      "-----BEGIN PRIVATE KEY-----\n"
      "MIICdgIBADANBgkqhkiG9w0BAQEFAASCAmAwggJcAgEAAoGBAMxVfm9M2L+3c8rZ\n"
      "p0Y2n6Uq5oJQ0aXj3o1Sx7w9Q0b4gC+u5nY2pW4zv3u1r8v2QmFQ==\n"
      "-----END PRIVATE KEY-----";
  EXPECT_EQ(Found("dlp.api_key", "here is my key:\n" + pkcs8 + "\nplease fix it."), Strings{pkcs8});
  const std::string rsa =
      "-----BEGIN RSA PRIVATE KEY-----\r\nProc-Type: 4,ENCRYPTED\r\nDEK-Info: AES-128-CBC,3F17F5316E2BAC89\r\n\r\n"
      "hCp9Eo7NQvkz1n3mLHx2r9Z0c5p4E6m3n2b1v0c9x8z7a6s5d4f3g2h1j0k9l8\r\n"
      "-----END RSA PRIVATE KEY-----";
  EXPECT_EQ(Found("dlp.api_key", rsa + "\r\n"), Strings{rsa});
  // Inside a JSON string or a .env line: `\n` written as two characters.
  const std::string escaped =
      "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\\n"
      "-----END PRIVATE KEY-----\\n";
  EXPECT_EQ(Found("dlp.api_key", "\"private_key\": \"" + escaped + "\","),
            Strings{escaped.substr(0, escaped.size() - 2)});
  // One line (newlines lost on the way), and a truncated block: to the end
  // of what can be key material.
  const std::string flat =
      "-----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ "
      "-----END OPENSSH PRIVATE KEY-----";
  EXPECT_EQ(Found("dlp.api_key", "k " + flat + " ok"), Strings{flat});
  EXPECT_EQ(Found("dlp.api_key", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5x\n"),
            Strings{"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5x"});
  EXPECT_EQ(Found("dlp.api_key", "-----BEGIN PRIVATE KEY-----\nMIIEvQ\nand then. more"),
            Strings{"-----BEGIN PRIVATE KEY-----\nMIIEvQ\nand then"});
  // Redaction replaces the block, key material included.
  std::string err;
  auto r = Redactor::Build({{"dlp.api_key", "[KEY]"}}, &err);
  ASSERT_NE(r, nullptr) << err;
  EXPECT_EQ(r->Apply("key:\n" + pkcs8 + "\nthanks", nullptr), "key:\n[KEY]\nthanks");
}

TEST(DetectorsTest, ValidatedMatchSemantics) {
  // `matches` is true when SOME candidate validates, not only the first.
  EXPECT_TRUE(DetectorMatches(Id("dlp.credit_card"), "4111 1111 1111 1112 or 4111 1111 1111 1111"));
  EXPECT_FALSE(DetectorMatches(Id("dlp.credit_card"), "4111 1111 1111 1112"));
  EXPECT_FALSE(DetectorMatches(Id("dlp.email"), ""));
  EXPECT_TRUE(FindDetectorMatches(Id("dlp.ipv4"), "").empty());
}

// The VM decides `matches dlp.x` with the detector's regex and validator only
// (a fused RE2::Set, then a leftmost non-overlapping confirm walk). Replay that
// walk here and check it agrees with DetectorMatches / FindDetectorMatches on
// texts around every fix, so `redact` never replaces what `matches` denies.
TEST(DetectorsTest, RegexPlusValidatorWalkAgreesWithFindDetectorMatches) {
  const char* texts[] = {
      "ref 1234 4111 1111 1111 1111", "4111 1111 1111 1111 5555 5555 5555 4444",
      "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20", "ES91 2100 0418 4502 0005 1332 ABCD",
      "DE89 3704 0044 0532 0130 00", "1.2.3.4.5 and 8.8.8.8", "078-05-1120 or 415-555-2671",
      "05.11.2026 08:30", "5500 0000 0000 0004", "x", ""};
  for (size_t id = 0; id < Detectors().size(); ++id) {
    const DetectorDecl& d = Detectors()[id];
    RE2 re(re2::StringPiece(d.regex.data(), d.regex.size()));
    RE2::Set set(RE2::Options(), RE2::UNANCHORED);
    ASSERT_GE(set.Add(re2::StringPiece(d.regex.data(), d.regex.size()), nullptr), 0);
    ASSERT_TRUE(set.Compile());
    for (const char* t : texts) {
      std::string_view text(t);
      bool walk = false;
      re2::StringPiece in(text.data(), text.size()), m;
      size_t pos = 0;
      while (!walk && pos <= text.size() && re.Match(in, pos, text.size(), RE2::UNANCHORED, &m, 1)) {
        walk = d.validate == nullptr || d.validate(std::string_view(m.data(), m.size()));
        size_t end = static_cast<size_t>(m.data() - text.data()) + m.size();
        pos = m.empty() ? end + 1 : end;
      }
      std::vector<int> hits;
      bool prefilter = set.Match(in, &hits);
      EXPECT_TRUE(prefilter || !walk) << d.name << ": " << t;
      EXPECT_EQ(DetectorMatches(static_cast<int>(id), text), walk) << d.name << ": " << t;
      EXPECT_EQ(!FindDetectorMatches(static_cast<int>(id), text).empty(), walk)
          << d.name << ": " << t;
    }
  }
}

// WalkDetector searches the card and SSN detectors only inside the text's
// digit runs: it must see exactly the candidates of RE2's walk over the whole
// text (leftmost, non-overlapping, resuming after each), on texts dense in
// digits, separators (ASCII and Unicode) and near-misses.
TEST(DetectorsTest, DigitRunWalkSeesTheWholeTextWalk) {
  const char* const pieces[] = {"4111", "1111", "0", "12", "123", "45", "6789", "4", " ", "-", ".",
                                "  ", "\t", "\n", " - ", "\xE2\x80\x93", "\xC2\xA0", "\xE2\x80\x8B",
                                "\xEF\xBC\x94", "\xEF\xBC\x91", "a", "x9", ".5", "card ", "_", "/",
                                "219-09-9999", "219.09.9999", "219 09 9999", "4111-1111-1111-1111",
                                "\xC2\xAD", "\xEF\xBB\xBF", "\xE2\x80\x8E", " \xE2\x80\x8B ",
                                "\xE2\x80\x89\xE2\x80\x8B", "-\xC2\xAD"};
  constexpr size_t kPieces = sizeof(pieces) / sizeof(pieces[0]);
  uint64_t x = 12345;
  auto next = [&] {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<size_t>(x >> 33);
  };
  for (const char* name : {"dlp.credit_card", "dlp.us_ssn"}) {
    const int id = Id(name);
    ASSERT_GT(Detectors()[static_cast<size_t>(id)].run_digits, 0u) << name;
    RE2 re(re2::StringPiece(Detectors()[static_cast<size_t>(id)].regex.data(),
                            Detectors()[static_cast<size_t>(id)].regex.size()));
    size_t candidates = 0;
    for (int round = 0; round < 4000; ++round) {
      std::string text;
      const size_t n = 1 + next() % 40;
      for (size_t i = 0; i < n; ++i) text += pieces[next() % kPieces];
      std::vector<std::pair<size_t, size_t>> whole, walked;
      re2::StringPiece input(text.data(), text.size()), m;
      size_t pos = 0;
      while (pos <= text.size() && re.Match(input, pos, text.size(), RE2::UNANCHORED, &m, 1)) {
        const size_t b = static_cast<size_t>(m.data() - text.data()), e = b + m.size();
        whole.emplace_back(b, e);
        pos = e > b ? e : e + 1;
      }
      WalkDetector(re, id, text, [&](size_t b, size_t e) {
        walked.emplace_back(b, e);
        return false;
      });
      ASSERT_EQ(walked, whole) << name << ": " << text;
      candidates += whole.size();
    }
    EXPECT_GT(candidates, 300u) << name << ": the texts must hold candidates";
  }
}

}  // namespace
}  // namespace tollgate::stdlib
