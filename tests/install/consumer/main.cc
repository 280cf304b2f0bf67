// Embeds one text with the installed libfloe: prints "dimension norm".
#include <floe/embedder.h>

#include <cmath>
#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer MODEL\n");
    return 2;
  }
  floe::EmbedderOptions options;  // a floe::RuntimeOptions, set field by field
  options.device = "cpu";
  options.num_threads = 1;
  options.max_batch_tokens = 4096;
  auto embedder = floe::Embedder::Open(argv[1], options);
  if (!embedder.ok()) {
    std::fprintf(stderr, "%s\n", embedder.status().ToString().c_str());
    return 1;
  }
  auto vectors = (*embedder)->Embed({{"installed and linked", {}}});
  if (!vectors.ok() || vectors->size() != 1) {
    std::fprintf(stderr, "embed failed\n");
    return 1;
  }
  double norm = 0;
  for (float x : (*vectors)[0]) norm += double(x) * x;
  std::printf("%zu %.4f\n", (*vectors)[0].size(), std::sqrt(norm));
  return 0;
}
