// Small helpers shared by tests: golden files, cosine, running a command.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace floe::test {

// Every line of a JSON-lines file, parsed.
inline std::vector<nlohmann::json> ReadJsonl(const std::string& path) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  }
  return rows;
}

// Cosine similarity in double, over the common length.
template <typename A, typename B>
double Cosine(const std::vector<A>& a, const std::vector<B>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    ab += double(a[i]) * double(b[i]);
    aa += double(a[i]) * double(a[i]);
    bb += double(b[i]) * double(b[i]);
  }
  return ab / std::sqrt(aa * bb);
}

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out, err;
};

// Runs `command` with /bin/sh, `input` on stdin; captures stdout and stderr.
inline CommandResult RunCommand(const std::string& command, const std::string& input = "") {
  char in_path[] = "/tmp/floe_test_in_XXXXXX";
  int fd = mkstemp(in_path);
  FILE* f = fdopen(fd, "w");
  std::fwrite(input.data(), 1, input.size(), f);
  std::fclose(f);
  std::string err_path = std::string(in_path) + ".err";
  std::string cmd = "(" + command + ") < " + in_path + " 2> " + err_path;
  CommandResult r;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream e(err_path);
  std::stringstream ss;
  ss << e.rdbuf();
  r.err = ss.str();
  std::remove(in_path);
  std::remove(err_path.c_str());
  return r;
}

}  // namespace floe::test
