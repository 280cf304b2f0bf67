// A CUDA build on a machine without a GPU: the CPU backend works, and
// `--device cuda` fails at once with a message that says why. Runs on every
// machine (the assertions that need "no GPU" skip where one is present).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>

#include "backend/backend.h"
#include "backend/cuda/cuda_backend.h"
#include "engine/engine.h"
#include "model/config.h"

namespace floe {
namespace {

const std::string kModel = std::string(FLOE_TEST_DATA) + "/models/bert-tiny-cls";

TEST(CudaBuildTest, CpuBackendStillWorks) {
  auto model = ModelFolder::Open(kModel);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto engine = Engine::Create(**model, RuntimeOptions{});
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  std::vector<float> out((*engine)->hidden_size());
  EXPECT_TRUE((*engine)->EmbedPooled({{101, 2023, 102}}, out.data()).ok());
}

TEST(CudaBuildTest, DeviceCudaWithoutGpuIsAClearFailedPrecondition) {
  if (CudaDeviceCount() > 0) GTEST_SKIP() << "a GPU is present";
  for (const char* device : {"cuda", "cuda:0", "cuda:1"}) {
    RuntimeOptions o;
    o.device = device;
    o.dtype = "float16";
    auto b = CreateBackend(o);
    ASSERT_FALSE(b.ok()) << device;
    EXPECT_EQ(b.status().code(), StatusCode::kFailedPrecondition) << b.status().ToString();
    EXPECT_NE(b.status().message().find(device), std::string::npos) << b.status().message();
    EXPECT_NE(b.status().message().find("GPU"), std::string::npos) << b.status().message();
    EXPECT_NE(b.status().message().find("--device cpu"), std::string::npos)
        << b.status().message();
  }
  // Through the engine, with its default dtype too.
  auto model = ModelFolder::Open(kModel);
  ASSERT_TRUE(model.ok());
  RuntimeOptions eo;
  eo.device = "cuda";
  auto e = Engine::Create(**model, eo);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kFailedPrecondition) << e.status().ToString();
}

TEST(CudaBuildTest, FloeEmbedDeviceCudaFailsAtOnceNamingTheProblem) {
  if (CudaDeviceCount() > 0) GTEST_SKIP() << "a GPU is present";
  const std::string err_path = ::testing::TempDir() + "floe_cuda_no_gpu.err";
  const std::string cmd = "echo '{\"text\": \"hello\"}' | " + std::string(FLOE_BINARY) +
                          " embed --model " + kModel + " --device cuda --dtype float16 > /dev/null 2> " +
                          err_path;
  const auto t0 = std::chrono::steady_clock::now();
  const int status = std::system(cmd.c_str());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  std::ifstream in(err_path);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string err = ss.str();
  std::remove(err_path.c_str());
  EXPECT_NE(err.find("cuda"), std::string::npos) << err;
  EXPECT_NE(err.find("no CUDA GPU"), std::string::npos) << err;
  EXPECT_LT(seconds, 10.0) << "should fail at once";
}

TEST(CudaBuildTest, OrdinalPastTheLastGpuIsNamed) {
  const int n = CudaDeviceCount();
  if (n == 0) GTEST_SKIP() << "no CUDA GPU present";
  RuntimeOptions o;
  o.device = "cuda:" + std::to_string(n);
  o.dtype = "float16";
  auto b = CreateBackend(o);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kFailedPrecondition) << b.status().ToString();
  EXPECT_NE(b.status().message().find(o.device), std::string::npos) << b.status().message();
}

TEST(CudaBuildTest, Int8IsUnimplementedOnCuda) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA GPU present";
  RuntimeOptions o;
  o.device = "cuda";
  o.dtype = "int8";
  auto b = CreateBackend(o);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kUnimplemented) << b.status().ToString();
}

}  // namespace
}  // namespace floe
