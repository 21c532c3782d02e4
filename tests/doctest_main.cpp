// The one doctest main every test binary links: doctest's own, plus the skips
// of tests/test_skip.hpp turned into an exit code ctest reports as "Skipped".
#define DOCTEST_CONFIG_IMPLEMENT
#include "tests/test_skip.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

struct skip_record {
  std::string current_case;        // the case running now
  std::vector<std::string> lines;  // "<case>: <reason>", one per skip
};

skip_record& skips() {
  static skip_record record;
  return record;
}

// Follows the run to know which case is running, and notes the cases doctest
// skips because they are marked skip().
class skip_listener : public doctest::IReporter {
 public:
  explicit skip_listener(const doctest::ContextOptions& /*options*/) {}
  void report_query(const doctest::QueryData& /*data*/) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats& /*stats*/) override {}
  void test_case_start(const doctest::TestCaseData& data) override {
    skips().current_case = data.m_name;
  }
  void test_case_reenter(const doctest::TestCaseData& /*data*/) override {}
  void test_case_end(const doctest::CurrentTestCaseStats& /*stats*/) override {}
  void test_case_exception(const doctest::TestCaseException& /*exception*/) override {}
  void subcase_start(const doctest::SubcaseSignature& /*signature*/) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData& /*data*/) override {}
  void log_message(const doctest::MessageData& /*data*/) override {}
  void test_case_skipped(const doctest::TestCaseData& data) override {
    if (data.m_skip) {
      skips().lines.push_back(std::string(data.m_name) + ": marked skip() (see its comment)");
    }
  }
};

REGISTER_LISTENER("actoken_skips", 1, skip_listener);

}  // namespace

void actoken::testing::skip_case(std::string_view reason) {
  MESSAGE("skipped: " << std::string(reason));
  skips().lines.push_back(skips().current_case + ": " + std::string(reason));
}

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int result = context.run();
  if (context.shouldExit()) return result;
  for (const auto& line : skips().lines) std::printf("actoken-skip: %s\n", line.c_str());
  // A skip is not a pass: ctest shows it as "Skipped" (SKIP_RETURN_CODE).
  if (result == 0 && !skips().lines.empty()) return actoken::testing::skipped_exit_code;
  return result;
}
