#include "libstream/cli/options.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mln::cli {
namespace {

TEST(OptionsTest, ParseSizeUnits) {
  EXPECT_EQ(ParseSize("4M").value(), 4u << 20);
  EXPECT_EQ(ParseSize("64K").value(), 64u << 10);
  EXPECT_EQ(ParseSize("1G").value(), 1u << 30);
  EXPECT_EQ(ParseSize("123").value(), 123u);
  EXPECT_FALSE(ParseSize("4X").has_value());
  EXPECT_FALSE(ParseSize("").has_value());
  EXPECT_FALSE(ParseSize("99999999999999999G").has_value());
}

// An app shaped like mln-compress's: -l takes the level, -o and -T take values, -c and -d
// are flags, inputs are positional.
struct LevelApp {
  CLI::App app{"test", "test"};
  int level = 0;
  bool to_stdout = false;
  std::vector<std::string> inputs;
  CommonArgs common;
  LevelApp() {
    app.add_option("input", inputs);
    app.add_flag("-c,--stdout", to_stdout);
    app.add_option("-l,--level", level)
        ->check(CLI::Range(1, 19))
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    AddCommonOptions(app, common);
  }
  // Parses `args` (without the program name) through SpellLevelShorthand.
  std::optional<int> Parse(std::vector<std::string> args) {
    args.insert(args.begin(), "test");
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    SpelledArgs spelled = SpellLevelShorthand(app, static_cast<int>(argv.size()), argv.data());
    EXPECT_EQ(spelled.argv.size(), argv.size() + 1);
    EXPECT_EQ(spelled.argv.back(), nullptr);
    return ParseArgs(app, static_cast<int>(argv.size()), spelled.argv.data());
  }
};

TEST(OptionsTest, DashDigitsIsTheLevelAsInZstd) {
  LevelApp a;
  EXPECT_FALSE(a.Parse({"-19", "-c", "model.gguf"}).has_value());
  EXPECT_EQ(a.level, 19);
  EXPECT_TRUE(a.to_stdout);
  EXPECT_EQ(a.inputs, std::vector<std::string>{"model.gguf"});
}

TEST(OptionsTest, DashDigitsAfterAFlagIsTheLevel) {
  LevelApp a;
  EXPECT_FALSE(a.Parse({"-c", "-q", "-9", "in"}).has_value());
  EXPECT_EQ(a.level, 9);
  EXPECT_EQ(a.inputs, std::vector<std::string>{"in"});
}

TEST(OptionsTest, TheLastLevelGivenWins) {
  LevelApp a;
  EXPECT_FALSE(a.Parse({"-l", "5", "-19", "in"}).has_value());
  EXPECT_EQ(a.level, 19);
}

TEST(OptionsTest, DashDigitsAsAValueOrAfterDoubleDashStaysAWord) {
  LevelApp a;
  EXPECT_FALSE(a.Parse({"-o", "-3", "-T", "2", "in"}).has_value());
  EXPECT_EQ(a.common.output, "-3");
  EXPECT_EQ(a.level, 0);
  LevelApp g;  // grouped short flags whose last one takes the value
  EXPECT_FALSE(g.Parse({"-fo", "-3", "in"}).has_value());
  EXPECT_EQ(g.common.output, "-3");
  EXPECT_EQ(g.level, 0);
  LevelApp b;
  EXPECT_FALSE(b.Parse({"-5", "--", "-7"}).has_value());
  EXPECT_EQ(b.level, 5);
  EXPECT_EQ(b.inputs, std::vector<std::string>{"-7"});
}

TEST(OptionsTest, DashDigitsOutOfRangeIsAUsageError) {
  LevelApp a;
  testing::internal::CaptureStderr();
  auto code = a.Parse({"-20", "in"});
  std::string err = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 64);
  EXPECT_NE(err.find("--level"), std::string::npos) << err;
}

}  // namespace
}  // namespace mln::cli
