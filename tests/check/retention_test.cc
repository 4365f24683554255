// Pass `retention`: under `retain content hash` or `none` no message, tag,
// budget or limit key, or quoted builtin error may carry the request's text
// into the audit record (tg_retained_text).
#include <gtest/gtest.h>

#include "tests/check/check_helpers.h"

namespace tollgate::checktest {
namespace {

using V = std::vector<std::string>;

Checked Under(const char* level, const std::string& decls) {
  return CheckSource(std::string("policy \"p\" retain content ") + level + "\n" + decls);
}

TEST(Retention, TextIntoTheRecordIsAnError) {
  const char* const leaks[] = {
      "rule r { when request.content matches dlp.credit_card deny 422 \"card found in: {request.content}\" }",
      "rule r { warn \"user said {request.content}\" }",
      "rule r { tag c = request.content }",
      "rule r { tag c = \"said {upper(request.content)}\" }",
      "rule r { tag c = join(split(request.content, \" \"), \",\") }",
      "rule r { when any m in request.messages: m.content contains \"x\" warn \"found in {m.content}\" }",
      "rule r { when any m in request.messages: m.content contains \"x\" deny \"found in {m}\" }",
      "rule r { when any m in request.messages: exists(m.name) tag who = m.name }",
      "rule r { when exists(request.messages[0]) tag last = request.messages[0].content }",
      "rule r { warn \"{request.messages}\" }",
      "rule r { when any w in split(request.content, \" \"): w == \"x\" warn \"{w}\" }",
      "budget b { key request.content per day limit 1 usd }",
      "limit l { key (principal.workspace, lower(request.content)) per minute max 1 requests }",
      "rule r { when year(time(request.content)) > 2000 deny \"x\" }",
      "rule r { when hour(context.time, request.content) > 3 deny \"x\" }",
  };
  for (const char* level : {"none", "hash"}) {
    for (const char* d : leaks) {
      auto c = Under(level, d);
      EXPECT_EQ(c.ErrorCodes(), V{"tg_retained_text"}) << level << ": " << d << "\n" << c.Render();
    }
  }
}

TEST(Retention, WhatIsNotTextOrNotRecordedIsFine) {
  const char* const fine[] = {
      // lengths, counts, detector results and scores are not text
      "rule r { when request.content matches dlp.credit_card deny 422 \"card found ({length(request.content)} chars)\" }",
      "rule r { tag has_email = request.content matches dlp.email }",
      "rule r { tag score = dlp.injection_score(request.content) }",
      "rule r { tag n = string(length(request.messages)) }",
      "rule r { tag tokens = tokens(request.content) }",
      // reading text to decide is what a policy does
      "rule r { when any m in request.messages: m.content contains \"secret\" deny \"secret found\" }",
      "rule r { when request.content matches dlp.email redact dlp.email as \"[EMAIL]\" }",
      // fields the record keeps
      "rule r { when any t in request.tools: t == \"shell\" deny \"tool {t} is not allowed\" }",
      "rule r { tag who = \"{principal.user ?? principal.workspace}/{request.model}\" }",
      "budget b { key principal.workspace per day limit 1 usd }",
      // a witness over the text, but the message names a field that is kept
      "rule r { when any m in request.messages: m.content contains \"x\" warn \"{request.model}\" }",
  };
  for (const char* level : {"none", "hash"}) {
    for (const char* d : fine) {
      auto c = Under(level, d);
      EXPECT_TRUE(c.ok) << level << ": " << d << "\n" << c.Render();
      EXPECT_EQ(c.Codes(), V{}) << level << ": " << d << "\n" << c.Render();
    }
  }
}

TEST(Retention, FullRetentionKeepsTheTextAnyway) {
  auto c = Under("full", "rule r { warn \"user said {request.content}\" tag c = request.content }");
  EXPECT_TRUE(c.ok) << c.Render();
  auto d = CheckSource("policy \"p\"\nrule r { warn \"user said {request.content}\" }");
  EXPECT_TRUE(d.ok) << d.Render();
}

TEST(Retention, DiagnosticPointsAtTheHole) {
  auto c = Under("none", "rule r {\n  when request.content matches dlp.credit_card\n"
                         "  deny 422 \"card found in: {request.content}\"\n}");
  ASSERT_EQ(c.ErrorCodes(), V{"tg_retained_text"}) << c.Render();
  const std::string out = c.Render();
  EXPECT_NE(out.find("test.tg:4:29: error[tg_retained_text]: this deny reason writes the request's "
                     "text (`request.content`) into the audit record in clear, but the policy "
                     "keeps `retain content none`"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("help: write what was found without quoting it"), std::string::npos) << out;

  auto w = Under("hash", "rule r { when any m in request.messages: m.content contains \"x\" "
                         "warn \"in {m.content}\" }");
  EXPECT_NE(w.Render().find("this warning writes `m`, from `request.messages`,"), std::string::npos)
      << w.Render();
}

}  // namespace
}  // namespace tollgate::checktest
