// A bare `floe serve` (no --model): all-MiniLM-L6-v2 from floe's model cache when it
// is there (served under its Hugging Face id), else, with the caches empty and the
// hub unreachable, the bundled demo model (found beside the binary's folder or in the
// source tree) with a warning that its vectors mean nothing.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "common/test_util.h"

namespace floe {
namespace {
namespace fs = std::filesystem;

// Runs a bare `floe serve` on free ports with empty caches under a fresh folder and
// an unreachable hub, after `setup` (shell, $d is the folder); waits until it is
// ready (or exits), stops it with SIGTERM, and returns its log.
test::CommandResult ServeBare(const std::string& setup) {
  const std::string script =
      "d=$(mktemp -d); " + setup +
      "; env -u HF_HUB_OFFLINE -u HF_HOME -u HF_TOKEN HF_HUB_CACHE=$d/hf "
      "XDG_CACHE_HOME=$d/xdg HF_ENDPOINT=http://127.0.0.1:1 " +
      std::string(FLOE_BINARY) +
      " serve --port 0 --http-port 0 >$d/log 2>&1 & p=$!; "
      "for i in $(seq 600); do grep -q 'serve: ready' $d/log && break; "
      "kill -0 $p 2>/dev/null || break; sleep 0.1; done; "
      "kill -TERM $p 2>/dev/null; wait $p; rc=$?; cat $d/log; rm -rf $d; exit $rc";
  return test::RunCommand(script);
}

TEST(ServeDefaultModel, FallsBackToTheDemoWithAWarning) {
  test::CommandResult r = ServeBare("true");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("http://127.0.0.1:1 is not reachable"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("RANDOM WEIGHTS, its vectors mean nothing"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("models/demo"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("serving model 'models/demo'"), std::string::npos) << r.out;
}

TEST(ServeDefaultModel, ServesTheFloeCacheCopyUnderItsId) {
  const std::string fixture = std::string(FLOE_TEST_DATA) + "/models/bert-tiny-cls";
  test::CommandResult r =
      ServeBare("mkdir -p $d/xdg/floe/models && ln -s " + fixture +
                " $d/xdg/floe/models/sentence-transformers--all-MiniLM-L6-v2");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("serving model 'sentence-transformers/all-MiniLM-L6-v2'"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("sentence-transformers--all-MiniLM-L6-v2"), std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("RANDOM WEIGHTS"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("not reachable"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace floe
