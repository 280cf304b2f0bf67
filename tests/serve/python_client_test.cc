// Wire compatibility: a Python gRPC client (Debian's python3-grpcio, stubs
// generated from proto/ at test time) against the real server; and `floe
// embed` gives the same vectors as the server.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "server_process.h"

namespace floe::test {
namespace {

std::string SourceDir() {
  // FLOE_TEST_DATA is <repo>/tests/data.
  return std::filesystem::path(FLOE_TEST_DATA).parent_path().parent_path().string();
}

int RunShell(const std::string& cmd, std::string* output) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) output->append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(PythonClient, ArcticInferenceStubsTalkToFloe) {
  if (std::system("/usr/bin/python3 -c 'import grpc' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "python3-grpcio is not installed (scripts/install-deps.sh installs it)";
  }
  auto dir = std::filesystem::temp_directory_path() / ("floe-pystubs-" + std::to_string(getpid()));
  std::string out;
  ASSERT_EQ(RunShell(SourceDir() + "/scripts/gen-python-proto.sh " + dir.string(), &out), 0) << out;
  ServerProcess server;
  ASSERT_TRUE(server.ready());
  out.clear();
  int rc = RunShell("PYTHONPATH=" + dir.string() + " /usr/bin/python3 " + SourceDir() +
                   "/tests/serve/arctic_client.py --target " + server.grpc_target() +
                   " --golden " + GoldenFile() + " --model " + FixtureModel(),
               &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("all ok"), std::string::npos) << out;
  EXPECT_TRUE(server.alive());
  EXPECT_EQ(server.Stop(), 0);
  std::filesystem::remove_all(dir);
}

TEST(FloeEmbed, SameVectorsAsTheServer) {
  auto golden = LoadGolden();
  auto in = std::filesystem::temp_directory_path() / ("floe-embed-in-" + std::to_string(getpid()));
  {
    std::ofstream f(in);
    for (size_t i = 0; i < 5; ++i) f << nlohmann::json{{"text", golden[i].text}}.dump() << "\n";
  }
  std::string out;
  ASSERT_EQ(RunShell(std::string(FLOE_BINARY) + " embed --model " + FixtureModel() + " < " +
                    in.string() + " 2>/dev/null",
                &out),
            0)
      << out;
  std::filesystem::remove(in);
  ServerProcess server;
  ASSERT_TRUE(server.ready());
  auto c = server.Http();
  std::istringstream lines(out);
  std::string line;
  size_t i = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '{') continue;
    auto cli = nlohmann::json::parse(line)["embedding"].get<std::vector<float>>();
    auto r = c.Post("/v1/embeddings", nlohmann::json{{"input", golden[i].text}}.dump(),
                    "application/json");
    ASSERT_TRUE(r);
    auto http = nlohmann::json::parse(r->body)["data"][0]["embedding"].get<std::vector<float>>();
    EXPECT_GE(Cosine(cli, http), 0.999999) << golden[i].text;
    ++i;
  }
  EXPECT_EQ(i, 5u);
  EXPECT_EQ(server.Stop(), 0);
}

}  // namespace
}  // namespace floe::test
