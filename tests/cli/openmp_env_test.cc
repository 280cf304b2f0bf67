// The real `floe` binary starts libgomp with floe's spin count unless the
// user set one (core/openmp_env.h): OMP_DISPLAY_ENV=verbose makes libgomp
// print, when it starts, the values it read.
#include <gtest/gtest.h>

#include <string>

#include "common/test_util.h"
#include "core/openmp_env.h"

namespace floe {
namespace {

// libgomp's report of `floe --version` under `env_prefix`.
std::string OpenMpReport(const std::string& env_prefix) {
  test::CommandResult r = test::RunCommand(
      "env -u GOMP_SPINCOUNT -u OMP_WAIT_POLICY -u FLOE_OPENMP_DEFAULTS " + env_prefix +
      " OMP_DISPLAY_ENV=verbose " + std::string(FLOE_BINARY) + " --version");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.err;
}

TEST(CliOpenMpTest, LibgompStartsWithFloesSpinCount) {
  const std::string report = OpenMpReport("");
  EXPECT_NE(report.find("GOMP_SPINCOUNT = '" + std::string(kOpenMpSpinCount) + "'"),
            std::string::npos)
      << report;
}

TEST(CliOpenMpTest, LibgompKeepsTheUsersSettings) {
  std::string report = OpenMpReport("GOMP_SPINCOUNT=777");
  EXPECT_NE(report.find("GOMP_SPINCOUNT = '777'"), std::string::npos) << report;
  report = OpenMpReport("OMP_WAIT_POLICY=passive");
  EXPECT_NE(report.find("OMP_WAIT_POLICY = 'PASSIVE'"), std::string::npos) << report;
  EXPECT_NE(report.find("GOMP_SPINCOUNT = '0'"), std::string::npos) << report;
  report = OpenMpReport("OMP_WAIT_POLICY=active");
  EXPECT_EQ(report.find("GOMP_SPINCOUNT = '" + std::string(kOpenMpSpinCount) + "'"),
            std::string::npos)
      << report;
  report = OpenMpReport("FLOE_OPENMP_DEFAULTS=0");
  EXPECT_NE(report.find("GOMP_SPINCOUNT = '300000'"), std::string::npos) << report;
}

}  // namespace
}  // namespace floe
