// floe's OpenMP wait default (core/openmp_env.h): set only where the user set
// nothing. (That libgomp reads it is checked on the real binary, tests/cli.)
#include "core/openmp_env.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>

namespace floe {
namespace {

// Saves the variables ApplyOpenMpDefaults reads and restores them after.
class OpenMpEnvTest : public ::testing::Test {
 protected:
  static constexpr const char* kVars[] = {"GOMP_SPINCOUNT", "OMP_WAIT_POLICY",
                                          "FLOE_OPENMP_DEFAULTS"};
  void SetUp() override {
    for (int i = 0; i < 3; ++i) {
      const char* v = std::getenv(kVars[i]);
      saved_[i] = v ? std::make_unique<std::string>(v) : nullptr;
      unsetenv(kVars[i]);
    }
  }
  void TearDown() override {
    for (int i = 0; i < 3; ++i) {
      if (saved_[i]) {
        setenv(kVars[i], saved_[i]->c_str(), 1);
      } else {
        unsetenv(kVars[i]);
      }
    }
  }
  static std::string Get(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "(unset)";
  }
  std::unique_ptr<std::string> saved_[3];
};

TEST_F(OpenMpEnvTest, SetsTheSpinCountWhenNothingIsSet) {
  EXPECT_TRUE(ApplyOpenMpDefaults());
  EXPECT_EQ(Get("GOMP_SPINCOUNT"), kOpenMpSpinCount);
  EXPECT_EQ(Get("OMP_WAIT_POLICY"), "(unset)");
  EXPECT_NE(OpenMpWaitSummary().find("floe's default"), std::string::npos)
      << OpenMpWaitSummary();
}

TEST_F(OpenMpEnvTest, ReadsAnyEnvironmentArray) {
  std::string a = "PATH=/bin", b = "GOMP_SPINCOUNT=", c = "OMP_WAIT_POLICY=passive";
  char* none[] = {a.data(), b.data(), nullptr};  // empty counts as unset
  char* user[] = {a.data(), c.data(), nullptr};
  EXPECT_TRUE(WantsOpenMpDefaults(none));
  EXPECT_FALSE(WantsOpenMpDefaults(user));
  EXPECT_TRUE(OpenMpSpinsLong());
  EXPECT_NE(OpenMpWaitSummary().find("libgomp's own"), std::string::npos)
      << OpenMpWaitSummary();
}

TEST_F(OpenMpEnvTest, KeepsTheUsersSpinCount) {
  setenv("GOMP_SPINCOUNT", "123", 1);
  EXPECT_FALSE(ApplyOpenMpDefaults());
  EXPECT_EQ(Get("GOMP_SPINCOUNT"), "123");
  setenv("GOMP_SPINCOUNT", "infinity", 1);
  EXPECT_FALSE(ApplyOpenMpDefaults());
  EXPECT_EQ(Get("GOMP_SPINCOUNT"), "infinity");
}

TEST_F(OpenMpEnvTest, KeepsTheUsersWaitPolicyAndAddsNoSpinCount) {
  for (const char* policy : {"active", "passive", "ACTIVE"}) {
    setenv("OMP_WAIT_POLICY", policy, 1);
    EXPECT_FALSE(ApplyOpenMpDefaults()) << policy;
    EXPECT_EQ(Get("GOMP_SPINCOUNT"), "(unset)") << policy;
    EXPECT_EQ(Get("OMP_WAIT_POLICY"), policy);
  }
}

TEST_F(OpenMpEnvTest, CanBeTurnedOff) {
  setenv("FLOE_OPENMP_DEFAULTS", "0", 1);
  EXPECT_FALSE(ApplyOpenMpDefaults());
  EXPECT_EQ(Get("GOMP_SPINCOUNT"), "(unset)");
  setenv("FLOE_OPENMP_DEFAULTS", "1", 1);
  EXPECT_TRUE(ApplyOpenMpDefaults());
  EXPECT_EQ(Get("GOMP_SPINCOUNT"), kOpenMpSpinCount);
}

}  // namespace
}  // namespace floe
