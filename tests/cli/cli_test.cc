// Runs the real `floe` binary: JSON lines in, JSON lines out, errors by line.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "common/test_util.h"

namespace floe {
namespace {

const std::string kData = FLOE_TEST_DATA;
const std::string kModel = kData + "/models/bert-tiny-cls";

using test::CommandResult;
using test::Cosine;
using test::ReadJsonl;

// Runs `floe ARGS` with `input` on stdin.
CommandResult RunFloe(const std::string& args, const std::string& input) {
  return test::RunCommand(std::string(FLOE_BINARY) + " " + args, input);
}

TEST(CliTest, EmbedMatchesGoldenInOrder) {
  auto golden = ReadJsonl(kData + "/golden/bert-tiny-cls.jsonl");
  std::string input;
  for (const auto& g : golden) {
    nlohmann::json line = {{"text", g["text"]}};
    if (g.contains("prompt_name")) line["prompt_name"] = g["prompt_name"];
    if (g.contains("dimensions")) line["dimensions"] = g["dimensions"];
    input += line.dump() + "\n";
  }
  CommandResult r = RunFloe("embed --model " + kModel, input);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream out(r.out);
  std::string line;
  size_t i = 0;
  for (; std::getline(out, line); ++i) {
    ASSERT_LT(i, golden.size());
    auto got = nlohmann::json::parse(line)["embedding"].get<std::vector<double>>();
    auto want = golden[i]["embedding"].get<std::vector<double>>();
    ASSERT_EQ(got.size(), want.size()) << "line " << i + 1;
    EXPECT_GE(Cosine(got, want), 0.99999) << "line " << i + 1;
  }
  EXPECT_EQ(i, golden.size());
}

TEST(CliTest, TokenizeMatchesGoldenIds) {
  auto golden = ReadJsonl(kData + "/golden/tokenizer-bert-base-uncased.jsonl");
  std::string input;
  for (const auto& g : golden) input += nlohmann::json{{"text", g["text"]}}.dump() + "\n";
  CommandResult r = RunFloe("tokenize --model " + kModel, input);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream out(r.out);
  std::string line;
  size_t i = 0;
  for (; std::getline(out, line); ++i) {
    auto want = golden[i]["ids"].get<std::vector<int>>();
    if (want.size() > 512) continue;  // golden ids are untruncated
    EXPECT_EQ(nlohmann::json::parse(line)["ids"].get<std::vector<int>>(), want) << "line " << i + 1;
  }
  EXPECT_EQ(i, golden.size());
}

TEST(CliTest, NormalizeFalseAndDimensions) {
  CommandResult r = RunFloe("embed --model " + kModel,
                  "{\"text\": \"hello\", \"normalize\": false}\n"
                  "{\"text\": \"hello\", \"dimensions\": 8}\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream out(r.out);
  std::string l1, l2;
  std::getline(out, l1);
  std::getline(out, l2);
  auto raw = nlohmann::json::parse(l1)["embedding"].get<std::vector<double>>();
  auto cut = nlohmann::json::parse(l2)["embedding"].get<std::vector<double>>();
  EXPECT_EQ(raw.size(), 32u);
  ASSERT_EQ(cut.size(), 8u);
  double norm = 0;
  for (double v : cut) norm += v * v;
  EXPECT_NEAR(norm, 1.0, 1e-5);
  std::vector<double> head(raw.begin(), raw.begin() + 8);
  EXPECT_GE(Cosine(head, cut), 0.999999);
}

struct BadLine {
  const char* name;
  std::string input;
  const char* message;  // expected in stderr
};

class CliBadInputTest : public ::testing::TestWithParam<BadLine> {};

TEST_P(CliBadInputTest, FailsNamingTheLineAndWritesNothing) {
  const BadLine& c = GetParam();
  CommandResult r = RunFloe("embed --model " + kModel, "{\"text\": \"fine\"}\n" + c.input);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("line 2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(
    BadInputs, CliBadInputTest,
    ::testing::Values(BadLine{"InvalidJson", "{\"text\": \n", "invalid JSON"},
                      BadLine{"MissingText", "{\"prompt_name\": \"query\"}\n", "missing \"text\""},
                      BadLine{"TextNotString", "{\"text\": 5}\n", "must be a string"},
                      BadLine{"UnknownField", "{\"text\": \"a\", \"colour\": 1}\n", "unknown field"},
                      BadLine{"UnknownPrompt", "{\"text\": \"a\", \"prompt_name\": \"nope\"}\n",
                              "unknown prompt_name 'nope'"},
                      BadLine{"BadDimensions", "{\"text\": \"a\", \"dimensions\": 0}\n",
                              "dimensions"},
                      BadLine{"TooManyDimensions", "{\"text\": \"a\", \"dimensions\": 33}\n",
                              "dimensions"},
                      BadLine{"InvalidUtf8", "{\"text\": \"a\xff\xfe\"}\n", "invalid"},
                      BadLine{"NotAnObject", "[1, 2]\n", "JSON object"}),
    [](const auto& info) { return info.param.name; });

TEST(CliTest, TooLongWithoutTruncateIsAnError) {
  std::string text;
  for (int i = 0; i < 600; ++i) text += "word ";
  CommandResult r = RunFloe("embed --model " + kModel,
                  nlohmann::json{{"text", text}, {"truncate", false}}.dump() + "\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("over the model's maximum of 512"), std::string::npos) << r.err;
}

TEST(CliTest, MissingModelFolderNamesIt) {
  CommandResult r = RunFloe("embed --model /nonexistent/model", "{\"text\": \"a\"}\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("/nonexistent/model"), std::string::npos) << r.err;
}

TEST(CliTest, HelpWorksForEverySubcommand) {
  for (const char* sub : {"", "embed ", "tokenize "}) {
    CommandResult r = RunFloe(std::string(sub) + "--help", "");
    EXPECT_EQ(r.exit_code, 0) << sub;
    EXPECT_NE(r.out.find("floe"), std::string::npos) << sub;
  }
}

// --log-level is one shared flag: every subcommand refuses an unknown level
// at parse time, with the same message and exit code (serve used to print its
// own, worker to ignore it and start).
TEST(CliTest, EverySubcommandRefusesABadLogLevelAlike) {
  const std::string address = "unix-abstract:floe-cli-test-" + std::to_string(getpid());
  const std::vector<std::pair<std::string, std::string>> runs = {
      {"serve", "serve --model " + kModel + " --no-grpc --http-port 0 --log-level loud"},
      {"worker", "worker --model " + kModel + " --address " + address + " --log-level loud"},
      {"embed", "embed --model " + kModel + " --log-level loud"},
      {"tokenize", "tokenize --model " + kModel + " --log-level loud"},
  };
  std::string first_err;
  int first_code = -2;
  for (const auto& [name, args] : runs) {
    // `timeout`: a worker that ignored the flag would otherwise serve forever.
    CommandResult r = test::RunCommand("timeout 30 " + std::string(FLOE_BINARY) + " " + args,
                                       "{\"text\": \"a\"}\n");
    EXPECT_NE(r.exit_code, 0) << name;
    EXPECT_NE(r.exit_code, 124) << name << " ran on (timed out) instead of refusing";
    EXPECT_NE(r.err.find("--log-level"), std::string::npos) << name << ": " << r.err;
    EXPECT_NE(r.err.find("'loud'"), std::string::npos) << name << ": " << r.err;
    EXPECT_EQ(r.out, "") << name;
    if (first_code == -2) {
      first_err = r.err;
      first_code = r.exit_code;
    } else {
      EXPECT_EQ(r.err, first_err) << name << " differs from serve";
      EXPECT_EQ(r.exit_code, first_code) << name << " differs from serve";
    }
  }
}

}  // namespace
}  // namespace floe
